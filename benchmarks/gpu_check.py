"""The GPU check: train, reindex and search on the synthetic catalogue on a device, and
compare its embeddings with the CPU's.

``python -m benchmarks.gpu_check --out report.json`` (``--device cuda`` by default)
runs, for EfficientNet-Lite0 and then ResNet-50 (randomly initialised weights,
written here, as the test suite does):

1. ``run_training`` with ``TrainConfig.device``: both stages, mixed precision;
2. a full reindex of the catalogue on the device (``ReindexConfig.device``);
3. searches through the real app: each of 20 listings' own title, and one of its
   photos, should bring it into the top 5;
4. every text, photo and listing of the catalogue embedded on the device and on
   the CPU in fp32 (the reference): cosine per vector, min and mean, for the
   device in its mixed precision and in fp32.

The report (JSON) names the device, torch and CUDA versions, the precision, each
step's seconds and those figures; a summary goes to stdout. The device machine
has no network and no MiniLM package (88 MB, over the carry limit): with
``--tokenizer DIR`` (MiniLM's tokenizer files) the text encoder is a randomly
initialised MiniLM-shaped BERT, the same compute. ``--device cpu`` runs the same
steps here (small ``--listings`` and ``--image-size`` keep that short).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEARCHES = 20
TOP = 5


@dataclass(frozen=True)
class Variant:
    name: str
    backbone: str


VARIANTS = (Variant("efficientnet-lite0", "efficientnet-lite0"), Variant("resnet50", "resnet50"))


def _random_bert(tokenizer_dir: Path, out: Path) -> Path:
    """A MiniLM-shaped BERT (6 layers, 384 wide), randomly initialised, beside its tokenizer."""
    import torch

    from benchmarks.random_models import random_bert

    torch.manual_seed(0)
    return random_bert(
        tokenizer_dir, out, hidden=384, layers=6, heads=12, intermediate=1536, max_positions=512
    )


def _random_resnet50(out: Path) -> Path:
    import torch

    from multimodal.torchvision_compat import import_torchvision

    torch.manual_seed(0)
    torch.save(import_torchvision().models.resnet50(weights=None).state_dict(), out)
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per-vector cosine of two sets of L2-normalised rows: min and mean."""
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(cos.min()), "mean": float(cos.mean()), "n": len(cos)}


def compare_embeddings(model_dir: Path, catalogue, device: str, threads: int) -> dict:
    """Every text, photo and listing embedded on ``device`` (in its mixed precision and in
    fp32) against the CPU's fp32 vectors (on ``threads`` CPU threads)."""
    import torch
    from PIL import Image

    from multimodal.embedder import Embedder, ListingContent

    torch.set_num_threads(threads)  # the app sets its own (one) when it starts

    texts = [listing.text for listing in catalogue.listings]
    photos = []
    for listing in catalogue.listings:
        for image_id in listing.image_ids:
            with Image.open(catalogue.image_path(image_id)) as image:
                photos.append(image.convert("RGB"))
    items, start = [], 0
    for listing in catalogue.listings:
        own = photos[start : start + len(listing.image_ids)]
        start += len(listing.image_ids)
        items.append(ListingContent(listing.text, own))

    def vectors(embedder: Embedder) -> dict[str, np.ndarray]:
        return {
            "text": embedder.embed_texts(texts),
            "photo": embedder.embed_images(photos),
            "listing": embedder.embed_listings(items),
        }

    reference = vectors(Embedder.load(model_dir, "fp32", "cpu"))
    out = {}
    for precision in ("auto", "fp32"):
        embedder = Embedder.load(model_dir, precision, device)
        started = time.perf_counter()
        got = vectors(embedder)
        out[embedder.precision] = {
            "seconds": time.perf_counter() - started,
            **{kind: _cosines(got[kind], reference[kind]) for kind in reference},
        }
    return out


def _unique_with_photos(catalogue) -> list:
    titles = Counter(listing.title.lower() for listing in catalogue.listings)
    return [
        listing
        for listing in catalogue.listings
        if listing.image_ids and titles[listing.title.lower()] == 1
    ][:SEARCHES]


def search_hits(raw: Path, home: Path, catalogue, device: str) -> dict:
    """Top-5 hit rates of listings' own titles and photos, through the real app."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    targets = _unique_with_photos(catalogue)
    hits = {"title": 0, "photo": 0}
    with TestClient(create_app(Settings(data=raw, home=home, device=device))) as client:
        for target in targets:
            photo = catalogue.image_path(target.image_ids[0]).read_bytes()
            queries = {"title": {"text": target.title}, "photo": {"image": _b64(photo)}}
            for kind, body in queries.items():
                response = client.post("/search", json={"k": 10, **body})
                response.raise_for_status()
                ids = [r["id"] for r in response.json()["results"][:TOP]]
                hits[kind] += target.id in ids
    return {f"{kind}_top{TOP}": count / max(1, len(targets)) for kind, count in hits.items()}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def run_variant(variant: Variant, args: argparse.Namespace, text_model: str) -> dict:
    from indexing.config import ReindexConfig
    from indexing.reindex.runner import reindex_workspace
    from multimodal.config import ImageEncoderConfig, ModelConfig, TextEncoderConfig, TrainConfig
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.data.cleaning import clean_catalogue
    from multimodal.data.synthetic import generate_catalogue
    from multimodal.train import run_training
    from multimodal.workspace import Workspace

    work = args.work / variant.name
    raw = args.work / "raw"
    if not (raw / "Products.csv").is_file():
        generate_catalogue(raw, n_listings=args.listings, seed=0)
    home = work / "home"
    ws = Workspace.for_data(raw, home=home)
    # The feature cache is keyed by content: the variants share the text features and the
    # word channel (CPU-only, and the slowest part of training on the synthetic catalogue).
    shared = args.work / "features"
    shared.mkdir(parents=True, exist_ok=True)
    ws.root.mkdir(parents=True, exist_ok=True)
    if not ws.features_dir.exists():
        ws.features_dir.symlink_to(shared.resolve())
    clean_catalogue(raw, ws.clean_dir, image_size=args.image_size, progress=False)
    catalogue = load_clean_catalogue(ws.clean_dir)
    weights = None
    if variant.backbone == "resnet50":
        weights = str(_random_resnet50(work / "resnet50-random.pth"))
    model_cfg = ModelConfig(
        text=TextEncoderConfig(model=text_model),
        image=ImageEncoderConfig(
            backbone=variant.backbone, resnet50_weights=weights, image_size=args.image_size
        ),
    )
    train_cfg = TrainConfig(
        epochs=args.epochs,
        stage2_epochs=args.stage2_epochs,
        device=args.device,
        threads=args.threads,
    )
    started = time.perf_counter()
    manifest, result = run_training(catalogue, ws, model_cfg, train_cfg)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reindex_cfg = ReindexConfig(
        full=True, device=args.device, progress=False, torch_threads=args.threads
    )
    _, summary = reindex_workspace(ws, reindex_cfg)
    reindex_seconds = time.perf_counter() - started
    return {
        "listings": len(catalogue.listings),
        "photos": sum(len(listing.image_ids) for listing in catalogue.listings),
        "train_seconds": train_seconds,
        "train_timings": result["timings"],
        "val_accuracy": manifest.metrics["val"],
        "reindex_seconds": reindex_seconds,
        "reindex": summary.line(),
        "search": search_hits(raw, home, catalogue, args.device),
        "cosine_to_cpu_fp32": compare_embeddings(
            ws.model_dir, catalogue, args.device, args.threads
        ),
    }


def environment(device: str) -> dict:
    import torch

    from multimodal.device import describe, resolve_device
    from multimodal.precision import resolve_precision

    resolved = resolve_device(device)
    return {
        "device": describe(resolved),
        "precision": resolve_precision("auto", resolved.type),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the JSON report to write")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cuda")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu-check"), help="scratch")
    parser.add_argument("--listings", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=20, help="stage-1 epochs")
    parser.add_argument("--stage2-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="torch CPU threads")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer dir: a random MiniLM-shaped BERT")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[v.name for v in VARIANTS],
        default=[v.name for v in VARIANTS],
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("multimodal").setLevel(logging.INFO)
    from multimodal.device import DeviceUnavailable

    try:
        report: dict = {"environment": environment(args.device), "variants": {}}
    except DeviceUnavailable as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 2
    text_model = "minilm"
    if args.tokenizer is not None:
        text_model = str(_random_bert(args.tokenizer, args.work / "random-minilm"))
    report["text_model"] = "random MiniLM-shaped BERT" if args.tokenizer else "minilm"
    started = time.perf_counter()
    for variant in VARIANTS:
        if variant.name in args.variants:
            report["variants"][variant.name] = run_variant(variant, args, text_model)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")  # what is done so far
    report["seconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    return 0


def summary(report: dict) -> str:
    lines = [f"gpu_check on {report['environment']['device']}, {report['seconds']:.0f} s"]
    for name, row in report["variants"].items():
        cos = " ".join(
            f"{precision}:{kind} min {row['cosine_to_cpu_fp32'][precision][kind]['min']:.4f}"
            for precision in row["cosine_to_cpu_fp32"]
            for kind in ("text", "photo", "listing")
        )
        lines.append(
            f"{name}: train {row['train_seconds']:.1f} s, reindex {row['reindex_seconds']:.1f} s, "
            f"search {row['search']}, cosine to CPU fp32 {cos}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
