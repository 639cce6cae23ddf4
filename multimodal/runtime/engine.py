"""Which engine runs the encoders: the names configs and flags use.

Free of torch and of the runtime, so a config can name an ``Engine`` without
loading either (as ``multimodal.precision`` does for number formats).
"""

from __future__ import annotations

from typing import Literal

# auto: the ONNX runtime, falling back to torch (one log line) when the export fails.
Engine = Literal["auto", "onnx", "torch"]
ENGINES: tuple[str, ...] = ("auto", "onnx", "torch")
