"""The exported graphs run by ONNX Runtime, and the image encoder's face over them.

Sessions run with every graph optimisation on (``ORT_ENABLE_ALL`` fuses each
convolution with its batch norm and activation and runs the network in
ONNX Runtime's blocked NCHWc layout: ~3.5x the default ``basic`` level on
EfficientNet-Lite0) and with the thread count torch was given, so an engine
switch changes no tuning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multimodal.runtime.export import (
    IMAGE_TOP_GRAPH,
    IMAGE_TRUNK_GRAPH,
    TEXT_GRAPH,
    TEXT_TOP_GRAPH,
)


def runtime_session(path: Path, threads: int, spinning: bool = False):
    """One graph's ONNX Runtime session on the CPU, every optimisation on, ``threads``
    for the graph's operators and none for running operators side by side.

    Its worker threads sleep between runs instead of spinning (``spinning``,
    ONNX Runtime's default, is there for the runtime bench). On two cores a
    spinning pool keeps both busy after its run ends, so the next graph (the
    image top after the trunk) and the thread decoding the next photos get
    half the machine: with spinning, photos ran 20 % slower and the top took
    twice as long (docs/runtime.md). A text query at batch 1 on two threads pays
    0.6-1.2 ms for the wake-ups; the server runs one thread, which has no pool.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoders:
    """The text tower, the text top, and the image trunk and top: one ONNX Runtime
    session each."""

    def __init__(self, directory: Path, threads: int, spinning: bool = False) -> None:
        self._text = runtime_session(directory / TEXT_GRAPH, threads, spinning)
        self._text_top = runtime_session(directory / TEXT_TOP_GRAPH, threads, spinning)
        self._trunk = runtime_session(directory / IMAGE_TRUNK_GRAPH, threads, spinning)
        self._top = runtime_session(directory / IMAGE_TOP_GRAPH, threads, spinning)
        # The last single photo's trunk outputs: a photo query needs them twice (its
        # joint vector, then its instance descriptor), and one pass is most of its cost.
        self._last_photo: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None

    def text_vectors(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``[n, dim]`` text joint vectors of tokenised texts."""
        feeds = {
            "input_ids": input_ids.astype(np.int64, copy=False),
            "attention_mask": attention_mask.astype(np.int64, copy=False),
        }
        return self._text.run(None, feeds)[0]

    def text_top_vectors(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``[n, dim]`` text joint vectors of the frozen trunk's token states (cached ones)."""
        feeds = {
            "hidden": np.ascontiguousarray(hidden, dtype=np.float32),
            "attention_mask": attention_mask.astype(np.int64, copy=False),
        }
        return self._text_top.run(None, feeds)[0]

    def trunk_maps(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The trunk's map and its stride-16 map of preprocessed ``[n, 3, s, s]`` pixels."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        last = self._last_photo
        if last is not None and last[0].shape == pixels.shape and np.array_equal(last[0], pixels):
            return last[1]
        maps, mid = self._trunk.run(None, {"pixels": pixels})
        if len(pixels) == 1:
            self._last_photo = (pixels, (maps, mid))
        return maps, mid

    def photo_vectors(self, pixels: np.ndarray) -> np.ndarray:
        """``[n, dim]`` photo joint vectors of preprocessed pixels."""
        maps, _ = self.trunk_maps(pixels)
        return self.top_vectors(maps)

    def top_vectors(self, maps: np.ndarray) -> np.ndarray:
        """``[n, dim]`` photo joint vectors of trunk maps (a reindex reads them cached)."""
        return self._top.run(None, {"maps": np.ascontiguousarray(maps, dtype=np.float32)})[0]


class _RuntimeTrunk:
    """``forward_with_mid`` as the torch trunks have it, run on the runtime."""

    def __init__(self, encoders: OnnxEncoders) -> None:
        self._encoders = encoders

    def forward_with_mid(self, pixels):
        import torch

        maps, mid = self._encoders.trunk_maps(pixels.float().numpy())
        return torch.from_numpy(maps), torch.from_numpy(mid)


class RuntimeImageEncoder:
    """A torch ``ImageEncoder`` (its config, normalisation and fingerprints) whose
    trunk runs on the runtime: what instance descriptors of photos are made with."""

    def __init__(self, encoder, encoders: OnnxEncoders) -> None:
        self._encoder = encoder
        self.trunk = _RuntimeTrunk(encoders)

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)
