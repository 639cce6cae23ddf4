"""``marketplace train``: train the multimodal model on a catalogue and save the bundle.

Stage 1 fits the heads on cached frozen-backbone features; stage 2 (on by
default) also fine-tunes the top text layers and last image block(s). The
bundle goes to the workspace's ``model/``; TensorBoard logs to ``runs/``.
Also runnable as ``python scripts/train.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scripts.device_option import add_device_argument, check_device
from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train the model and save it in the workspace")
    parser.add_argument("--data", type=Path, help="raw catalogue folder (default: see README)")
    parser.add_argument(
        "--stage2",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also fine-tune the top text layers and image blocks (default: on)",
    )
    parser.add_argument("--epochs", type=int, help="stage-1 epochs (early stopping may end sooner)")
    parser.add_argument("--stage2-epochs", type=int, help="stage-2 epochs")
    parser.add_argument(
        "--backbone",
        choices=("auto", "resnet50", "efficientnet-lite0"),
        default="auto",
        help="image backbone (auto: ResNet-50 when its weights are on disk)",
    )
    parser.add_argument("--resnet50-weights", type=Path, help="a ResNet-50 state-dict file")
    parser.add_argument(
        "--image-size", type=int, help="backbone input side, px (default: the cleaned photos' 256)"
    )
    parser.add_argument("--text-model", default="minilm", help="'minilm' or a local BERT dir")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="stage 2's number format; auto: bf16 where the CPU has it natively",
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="what encodes the frozen layers on the CPU; auto: the ONNX runtime, else torch",
    )
    parser.add_argument(
        "--progress-file", type=Path, help="write training's progress (JSON) to this file"
    )
    add_device_argument(parser)
    parser.add_argument(
        "--cnn-baseline",
        action="store_true",
        help="also train the small from-scratch CNN baseline (for `marketplace evaluate`)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from multimodal.config import ImageEncoderConfig, ModelConfig, TextEncoderConfig, TrainConfig
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.data.cleaning import clean_catalogue
    from multimodal.data.raw import RawDataError
    from multimodal.encoders.image import BackboneUnavailable
    from multimodal.train import run_training
    from multimodal.workspace import Workspace
    from scripts.data import resolve_data_dir
    from scripts.logs import show_progress_log

    if args.image_size is not None and args.image_size < 32:
        raise CliError(f"--image-size must be at least 32, not {args.image_size}")
    for name in ("epochs", "stage2_epochs", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    if args.resnet50_weights and not args.resnet50_weights.is_file():
        raise CliError(f"--resnet50-weights: no such file {args.resnet50_weights}")
    check_device(args.device)
    show_progress_log()
    data = resolve_data_dir(args.data)
    ws = Workspace.for_data(data)
    try:
        if not (ws.clean_dir / "listings.jsonl").exists():
            print(f"no cleaned catalogue for {data} yet: cleaning it first", file=sys.stderr)
            clean_catalogue(data, ws.clean_dir)
        catalogue = load_clean_catalogue(ws.clean_dir)
    except RawDataError as exc:
        raise CliError(str(exc)) from exc
    defaults = TrainConfig()
    train_cfg = TrainConfig(
        stage2=args.stage2,
        epochs=args.epochs or defaults.epochs,
        stage2_epochs=args.stage2_epochs or defaults.stage2_epochs,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
        engine=args.engine,
        progress_file=str(args.progress_file) if args.progress_file else None,
    )
    model_cfg = ModelConfig(
        text=TextEncoderConfig(model=args.text_model),
        image=ImageEncoderConfig(
            backbone=args.backbone,
            image_size=args.image_size or ImageEncoderConfig().image_size,
            resnet50_weights=str(args.resnet50_weights) if args.resnet50_weights else None,
        ),
    )
    started = time.perf_counter()
    try:
        manifest, result = run_training(catalogue, ws, model_cfg, train_cfg)
    except (BackboneUnavailable, FileNotFoundError) as exc:
        raise CliError(str(exc).splitlines()[0]) from exc
    if args.cnn_baseline:
        from multimodal.baselines import train_cnn_baseline

        cnn = train_cnn_baseline(catalogue, ws, threads=args.threads, seed=train_cfg.seed)
        print(f"CNN baseline: test accuracy per product {cnn['accuracy']:.3f}", file=sys.stderr)
    val = manifest.metrics["val"]
    extracted = result["timings"]["extracted"]
    print(
        f"trained on {manifest.data['split']['train']} listings in "
        f"{time.perf_counter() - started:.0f}s ({extracted['texts']} texts and "
        f"{extracted['photos']} photos newly encoded): val accuracy text "
        f"{val['text']:.3f}, image {val['image']:.3f}, fused {val['fused']:.3f} "
        f"-> {ws.model_dir}"
    )
    return 0


if __name__ == "__main__":
    from scripts.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
