"""Training, start to end: data → cached features → the two stages → tuning → bundle.

``run_training`` is the whole run behind ``marketplace train``; ``train_model``
trains a model in place on features already extracted. The pieces live apart:
the losses (``multimodal.losses``), the loop and its stages
(``multimodal.train_loop``), and the settings tuned on validation afterwards
(``multimodal.blending``).

On a GPU (``TrainConfig.device``) the encoders and the fusion head train there;
the word channel (sparse, fitted by scikit-learn) stays on the CPU, and so does
the tuning after training, which is cheap arithmetic on the heads.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from multimodal.blending import (
    accuracies,
    evaluate_features,
    fit_photo_neighbours,
    predict_logits,
    tune_mix_weights,
)
from multimodal.config import TrainConfig
from multimodal.device import device_of, resolve_device, to_device
from multimodal.features import (
    ListingFeatures,
    frozen_pooled,
    listing_features,
    pad_states,
    text_trunk_states,
)
from multimodal.fusion import MultimodalModel
from multimodal.progress import Progress
from multimodal.runtime.frozen_features import encode_on_runtime, tops_on_runtime
from multimodal.train_data import TrainData
from multimodal.train_loop import TensorBoardLogger, heads_stage, run_stage, tops_stage


def _name_states(model: MultimodalModel, names: Sequence[str], root: Path):
    states, _ = text_trunk_states(model.text, list(names), root)
    return pad_states(states, device_of(model.text))


def _place(model: MultimodalModel, device: torch.device) -> None:
    """The encoders and the fusion head on ``device``; the word channel stays on the CPU."""
    for part in (model.text, model.image, model.head):
        part.to(device)


def _tuned_pooled(model: MultimodalModel, feats: ListingFeatures):
    """The fine-tuned tops' outputs for every listing and photo, on the CPU, in the
    layout of ``frozen_pooled`` (one view per photo): one pass where the model is."""
    from multimodal.listing_vectors import top_photo_features, top_text_features

    text = top_text_features(model, feats, range(len(feats.ids)))
    return text.cpu(), top_photo_features(model, feats.maps).cpu()[:, None]


def train_model(
    model: MultimodalModel,
    data: TrainData,
    cfg: TrainConfig,
    features_root: Path,
    pooled: tuple[torch.Tensor, torch.Tensor],
    runs_dir: Path | None = None,
    after_stage1: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train ``model`` in place; returns the history, per-stage val accuracies and timings.

    ``after_stage1`` runs between the stages (to record the frozen-feature figures).
    The stages run where the model's heads are, with ``pooled`` there too; the
    model ends on the CPU.
    """
    device = device_of(model.head)
    torch.manual_seed(cfg.seed)
    logger = TensorBoardLogger(runs_dir, progress)
    feats, labels = data.feats, data.labels
    timings: dict[str, float] = {}
    name_states = _name_states(model, data.label_names, features_root)
    with torch.no_grad():
        frozen_names = model.text.top(*name_states)

    heads = heads_stage(model, data, pooled, frozen_names, cfg)
    start = time.perf_counter()
    history = run_stage(heads, model, data.train_idx, cfg, logger)
    timings["stage1_seconds"] = time.perf_counter() - start
    result = {"stage1_val": heads.validate(), "history": history}
    if after_stage1 is not None:
        after_stage1()

    if cfg.stage2:
        start = time.perf_counter()
        tops = tops_stage(model, data, name_states, cfg)
        history += run_stage(tops, model, data.train_idx, cfg, logger)
        timings["stage2_seconds"] = time.perf_counter() - start
    logger.progress.update("tuning on validation", 0, 1, force=True)
    val_labels = labels[data.val_idx]
    # Without stage 2 the tops are still the frozen ones, so their cached outputs serve
    # (no second pass of the text layers and image block over validation).
    frozen = None if cfg.stage2 else pooled
    if device.type != "cpu":  # the tuning runs on the CPU, from the tops' outputs
        frozen = _tuned_pooled(model, feats) if cfg.stage2 else tuple(p.cpu() for p in pooled)
        model.cpu()
    _, _, vectors = evaluate_features(model, feats, data.val_idx, val_labels, frozen)
    word = data.word_log_probs
    val_word = None if word is None else word[data.val_idx]
    result["mix"] = tune_mix_weights(model.head, vectors, val_labels, cfg, model.word, val_word)
    start = time.perf_counter()
    result["neighbours"] = fit_photo_neighbours(model, data, vectors, cfg.neighbours, frozen)
    timings["neighbours_seconds"] = time.perf_counter() - start
    has_image = vectors["has_image"]
    blended = predict_logits(model.head, vectors, model.word, val_word, model.neighbours)
    result["final_val"] = accuracies(blended, val_labels, has_image)
    result["encoders_val"] = accuracies(predict_logits(model.head, vectors), val_labels, has_image)
    logger.close()
    model.eval()
    model.requires_grad_(False)
    result["timings"] = timings
    return result


# -- the whole run: data → features → training → bundle ----------------------------------


def catalogue_fingerprint(listings: Sequence) -> str:
    """What the model was trained on: ids, categories, texts and photo ids of the listings."""
    digest = hashlib.sha1()
    for listing in sorted(listings, key=lambda item: item.id):
        digest.update(
            "\x1f".join([listing.id, listing.category, listing.text, *listing.image_ids]).encode()
        )
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def run_training(catalogue, ws, model_cfg, cfg: TrainConfig) -> tuple:
    """Train on ``catalogue`` (a ``CleanCatalogue``) and save the bundle in ``ws.model_dir``.

    ``ws`` (a ``Workspace``) also gives the split file, feature cache and runs
    folder. Returns the manifest and the result dict (history, timings). The
    saved split decides train/val/test; the test split is only used to record
    the frozen-feature (stage-1) figures as a baseline.
    """
    from multimodal.bundle import new_model, save_bundle
    from multimodal.data.labels import LabelEncoder
    from multimodal.data.splits import load_or_make_split

    started = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    listings = list(catalogue.listings)
    split = load_or_make_split(ws.split_file, listings)
    labels = LabelEncoder.fit(listing.root for listing in listings)
    by_id = catalogue.by_id()
    ordered = [by_id[i] for name in ("train", "val", "test") for i in split.ids(name)]
    n_train, n_val = len(split.train), len(split.val)

    model = new_model(model_cfg, len(labels))
    device = resolve_device(cfg.device)  # after the backbone: its error is the only line
    _place(model, device)
    progress = Progress(Path(cfg.progress_file) if cfg.progress_file else None)
    on_runtime = {"texts": 0, "photos": 0}
    tops = None
    if device.type == "cpu" and cfg.engine != "torch":  # the runtime runs the frozen layers
        on_runtime = encode_on_runtime(model, ordered, catalogue, ws.features_dir, cfg, progress)
        tops = tops_on_runtime(model, ws.features_dir, cfg)
    progress.update("pooling the cached features", 0, 1, force=True)
    feats = listing_features(model, ordered, catalogue, ws.features_dir)
    features_done = time.perf_counter()
    pooled = frozen_pooled(model, feats, ws.features_dir, tops=tops)
    pooled = tuple(to_device(p, device) for p in pooled)
    pooled_done = time.perf_counter()
    y = torch.tensor([labels.encode(listing.root) for listing in ordered])
    progress.update("fitting the word channel", 0, 1, force=True)
    word_log_probs, word_reused = None, False
    if model.word is not None:  # fitted first, on the training texts only
        word_reused = model.word.fit_cached(
            [listing.text for listing in ordered[:n_train]],
            y[:n_train].numpy(),
            ws.features_dir / "word-channel",
        )
        word_log_probs = model.word.log_probs([listing.text for listing in ordered])
    word_done = time.perf_counter()
    data = TrainData(
        feats=feats,
        labels=y,
        train_idx=list(range(n_train)),
        val_idx=list(range(n_train, n_train + n_val)),
        label_names=labels.classes,
        word_log_probs=word_log_probs,
    )
    test_idx = list(range(n_train + n_val, len(ordered)))
    stage1_test: dict[str, float] = {}

    def record_stage1_test() -> None:
        if test_idx:
            test_y = to_device(y[test_idx], device)
            stage1_test.update(evaluate_features(model, feats, test_idx, test_y, pooled)[0])

    result = train_model(
        model,
        data,
        cfg,
        ws.features_dir,
        pooled,
        runs_dir=ws.runs_dir,
        after_stage1=record_stage1_test,
        progress=progress,
    )
    timings = {
        "feature_seconds": features_done - started,
        "pooled_seconds": pooled_done - features_done,
        "word_channel_seconds": word_done - pooled_done,
        **result["timings"],
        "total_seconds": time.perf_counter() - started,
        "extracted": {kind: feats.computed[kind] + on_runtime[kind] for kind in on_runtime},
        "extracted_on_runtime": on_runtime,
        "cold": any(feats.computed.values()) or any(on_runtime.values()),
        "word_channel_reused": word_reused,
    }
    metrics = {
        "val": result["final_val"],
        "val_encoders_only": result["encoders_val"],
        "mix_weights": list(result["mix"]["mix_weights"]),
        "word_weight": result["mix"]["word_weight"],
        "photo_neighbours": result["neighbours"],
        "stage1_val": result["stage1_val"],
        "stage1_test": stage1_test,
    }
    manifest = save_bundle(
        ws.model_dir,
        model,
        model_cfg,
        labels,
        data={
            "data_dir": str(ws.data_dir),
            "catalogue_fingerprint": catalogue_fingerprint(listings),
            "listings": len(listings),
            "split": {name: len(split.ids(name)) for name in ("train", "val", "test")},
            "split_seed": split.seed,
            "duplicate_groups": split.duplicate_groups,
        },
        metrics=metrics,
        training={"config": asdict(cfg), "timings": timings, "history": result["history"]},
    )
    return manifest, {**result, "timings": timings}
