"""The engines the runtime benchmark puts side by side, each behind an ``Embedder``.

``torch`` (today's path, in the precision ``auto`` picks: bf16 on a CPU with it),
``torch-fp32`` (today's path on a CPU without bf16), ``onnx`` (the runtime the
product uses), and the candidates not picked, kept here only to be measured:
``onnx-spinning`` (the same sessions with ONNX Runtime's default of worker
threads that spin between runs), ``onnx-int8`` (the text graph dynamically
quantised to int8 weights) and
``openvino`` (the same graphs compiled by OpenVINO, in fp32, and in bf16 as it
picks by default on a CPU with AMX). All share the exported graphs and the
embedder's tokenisation, preprocessing, pooling and fusion, so only the
engine differs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from multimodal.runtime.export import GRAPHS, IMAGE_TOP_GRAPH, IMAGE_TRUNK_GRAPH, TEXT_GRAPH

ENGINE_NAMES = (
    "torch",
    "torch-fp32",
    "onnx",
    "onnx-spinning",
    "onnx-int8",
    "openvino",
    "openvino-bf16",
)


class OpenVinoEncoders:
    """The exported graphs compiled by OpenVINO, with ``OnnxEncoders``' three calls."""

    def __init__(self, directory: Path, threads: int, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
        }

        def compiled(name: str):
            return core.compile_model(core.read_model(directory / name), "CPU", config)

        self._text = compiled(TEXT_GRAPH)
        self._trunk = compiled(IMAGE_TRUNK_GRAPH)
        self._top = compiled(IMAGE_TOP_GRAPH)

    def text_vectors(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self._text([input_ids.astype(np.int64), attention_mask.astype(np.int64)])[0]

    def trunk_maps(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._trunk(np.ascontiguousarray(pixels, dtype=np.float32))
        return out[0], out[1]

    def photo_vectors(self, pixels: np.ndarray) -> np.ndarray:
        return self._top(self.trunk_maps(pixels)[0])[0]


def int8_text_graphs(directory: Path, out: Path) -> Path:
    """A copy of the graphs in ``out`` with the text graph's weights quantised to int8
    (dynamic quantisation: activations quantised per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.mkdir(parents=True, exist_ok=True)
    for name in GRAPHS:
        if name != TEXT_GRAPH:
            shutil.copyfile(directory / name, out / name)
    quantize_dynamic(directory / TEXT_GRAPH, out / TEXT_GRAPH, weight_type=QuantType.QInt8)
    return out


def load_engine(name: str, model_dir: Path, threads: int, scratch: Path):
    """An ``Embedder`` of the bundle at ``model_dir`` whose encoders run on ``name``."""
    import torch

    from multimodal.bundle import load_model
    from multimodal.embedder import Embedder
    from multimodal.runtime.cache import ensure_exported
    from multimodal.runtime.session import OnnxEncoders

    torch.set_num_threads(threads)
    if name in ("torch", "torch-fp32", "onnx"):
        precision = "fp32" if name == "torch-fp32" else "auto"
        return Embedder.load(model_dir, precision, engine="onnx" if name == "onnx" else "torch")
    model, manifest, _ = load_model(model_dir)
    graphs = ensure_exported(
        model_dir, model, manifest.fingerprint, manifest.config.image.image_size
    )
    if name == "onnx-spinning":
        runtime = OnnxEncoders(graphs, threads, spinning=True)
    elif name == "onnx-int8":
        runtime = OnnxEncoders(int8_text_graphs(graphs, scratch / "int8"), threads)
    elif name in ("openvino", "openvino-bf16"):
        runtime = OpenVinoEncoders(graphs, threads, "bf16" if name.endswith("bf16") else "f32")
    else:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")
    return Embedder(model, manifest, "fp32", runtime=runtime)
