"""Do the runtime's vectors match torch's? Every kind the index holds, on real listings.

For ``listings`` catalogue listings (and their photos) each kind of vector is
computed by the runtime and by torch in fp32, and their cosine taken per
vector: joint listing vectors (text fused with photos), per-photo vectors,
text-only vectors, instance descriptors (projected with the current index
version's whitening, when it has an instance channel), and the three kinds of
query vector (text, photo, text and photo). The contract is a minimum of
0.999 for every kind. (How far today's bf16 torch path is from the same
reference is in ``benchmarks.runtime``'s report, per photo and text vector.)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, write_report

THRESHOLD = 0.999


@dataclass(frozen=True)
class ParityConfig:
    listings: int = 1000
    queries: int = 100  # query vectors and instance descriptors, per kind
    seed: int = 0
    threads: int = 2


def _decode(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def index_vectors(embedder, listings, photos) -> dict[str, np.ndarray]:
    """The vectors a reindex writes for ``listings`` (their photos decoded in ``photos``).

    Each photo is embedded once and the listing vectors fused from the photo and
    text vectors with the model's own pooling and fusion, as the reindex's mapper
    does (``embed_listings``, which fuses the same way, is checked on the queries)."""
    import torch

    from multimodal.fusion import FusionHead

    texts = embedder.embed_texts([x.text for x in listings])
    flat = embedder.embed_images([image for own in photos for image in own])
    fused, start = [], 0
    for text, own in zip(torch.from_numpy(texts), photos, strict=True):
        mine = torch.from_numpy(flat[start : start + len(own)])
        start += len(own)
        if not len(own):
            fused.append(text)
            continue
        mask = torch.ones(1, len(own), dtype=torch.bool)
        fused.append(FusionHead.fuse(text, FusionHead.pool_photos(mine[None], mask)[0]))
    return {"listing": torch.stack(fused).numpy(), "photo": flat, "text": texts}


def cached_index_vectors(embedder, catalogue, listings, features_dir: Path) -> dict:
    """The text and photo vectors a reindex computes from training's feature cache
    (``multimodal.cached_vectors``): only the top layers run, on the runtime's
    ``text_top`` and ``image_top`` graphs or in torch."""
    from multimodal.cached_vectors import photo_vectors, text_vectors

    image_ids = [i for x in listings for i in x.image_ids]
    return {
        "text_from_cache": text_vectors(embedder, [x.text for x in listings], features_dir),
        "photo_from_cache": photo_vectors(embedder, catalogue, image_ids, features_dir),
    }


def query_vectors(embedder, pairs, projection) -> dict[str, np.ndarray]:
    """The vectors searches make from (title, first photo) ``pairs``, and the photos'
    instance descriptors (projected when there is a whitening to project with)."""
    from multimodal.embedder import ListingContent
    from multimodal.instance_features import describe_images

    raw = describe_images(embedder.image_encoder, [photo for _, photo in pairs])
    out = {
        "embed_listings": embedder.embed_listings([ListingContent(t, [p]) for t, p in pairs]),
        "query_text": np.stack([embedder.embed_query(t, None) for t, _ in pairs]),
        "query_photo": np.stack([embedder.embed_query(None, p) for _, p in pairs]),
        "query_text_and_photo": np.stack([embedder.embed_query(t, p) for t, p in pairs]),
    }
    if projection is not None:
        out["instance"] = projection(raw)
    else:  # no instance channel to project with: the raw descriptors' two parts
        out["instance_pooled"] = raw.pooled
        out["instance_texture"] = raw.texture
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(_unit(a.astype(np.float64)) * _unit(b.astype(np.float64)), axis=1)
    return {"n": len(cos), "min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}


def run_parity(
    catalogue, model_dir: Path, projection, config: ParityConfig, features_dir: Path | None = None
) -> dict:
    """``features_dir``: training's feature cache, whose vectors are checked too when
    it is given."""
    import torch

    from multimodal.embedder import Embedder

    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    chosen = rng.sample(list(catalogue.listings), min(config.listings, len(catalogue.listings)))
    photos = [[_decode(catalogue.image_path(i)) for i in x.image_ids] for x in chosen]
    engines = {
        "onnx": Embedder.load(model_dir, "fp32", engine="onnx"),
        "torch-fp32": Embedder.load(model_dir, "fp32", engine="torch"),
    }
    pairs = [(x.title, own[0]) for x, own in zip(chosen, photos, strict=True) if own]
    pairs = pairs[: config.queries]
    results: dict[str, dict] = {}
    vectors = {
        name: {
            **index_vectors(embedder, chosen, photos),
            **query_vectors(embedder, pairs, projection),
            **(
                cached_index_vectors(embedder, catalogue, chosen, features_dir)
                if features_dir is not None
                else {}
            ),
        }
        for name, embedder in engines.items()
    }
    reference = vectors["torch-fp32"]
    results["onnx"] = {
        kind: _cosines(vectors["onnx"][kind], ref) for kind, ref in reference.items()
    }
    worst = min(stats["min"] for stats in results["onnx"].values())
    return {
        "config": asdict(config),
        "machine": machine_info(),
        "model": {"dir": str(model_dir), "fingerprint": engines["onnx"].fingerprint},
        "listings": len(chosen),
        "photos": sum(len(own) for own in photos),
        "reference": "torch-fp32",
        "cosine": results,
        "threshold": THRESHOLD,
        "onnx_min": worst,
        "passed": worst >= THRESHOLD,
    }


def summary_line(report: dict) -> str:
    kinds = ", ".join(
        f"{kind} {stats['min']:.6f}/{stats['mean']:.6f}"
        for kind, stats in report["cosine"]["onnx"].items()
    )
    verdict = "PASSED" if report["passed"] else "FAILED"
    return f"runtime parity ({verdict}, min/mean cosine to torch fp32): {kinds}"


def run_parity_on_workspace(
    data: Path, config: ParityConfig, out: Path, model_dir: Path | None = None
) -> dict:
    """The check on a dataset's cleaned catalogue, saved model and current index."""
    from indexing.index_store import IndexDirectory
    from indexing.instance_index import InstanceIndex
    from multimodal.bundle import BundleError
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.workspace import Workspace

    workspace = Workspace.for_data(data)
    try:
        catalogue = load_clean_catalogue(workspace.clean_dir)
    except FileNotFoundError as exc:
        raise BenchError(str(exc).splitlines()[0]) from None
    projection = None
    current = IndexDirectory(workspace.index_dir).current()
    if current is not None and InstanceIndex.reusable(current / "instances"):
        from indexing.config import IndexConfig

        projection = InstanceIndex.load(current / "instances", IndexConfig()).projection
    try:
        features = workspace.features_dir if workspace.features_dir.is_dir() else None
        report = run_parity(
            catalogue, model_dir or workspace.model_dir, projection, config, features
        )
    except BundleError as exc:
        raise BenchError(str(exc).splitlines()[0]) from None
    write_report(report, out, summary_line(report))
    return report
