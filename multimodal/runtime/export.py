"""Export a trained model's encoders to ONNX: the graphs the runtime runs.

Four graphs cover every vector the index holds and every query:

- ``text.onnx``: token ids and mask → the text joint vector (trunk, top,
  mean pooling and projection head in one graph: text-only vectors, text
  queries, and the text half of a fused listing vector);
- ``text_top.onnx``: the frozen trunk's token states and mask → the text joint
  vector (what a reindex runs over the states training cached);
- ``image_trunk.onnx``: pixels → the frozen trunk's map and its stride-16 map
  (what the feature cache stores, and what instance descriptors are made of);
- ``image_top.onnx``: trunk map → the photo joint vector (top blocks, pooling,
  projection head).

The image is split at the trunk because a photo query needs the trunk map
twice (its joint vector and its instance descriptor): one trunk pass serves
both. Pooling photos and fusing them with the text stays in torch
(``FusionHead``): it is a handful of vector additions.

Exported in fp32 from the fp32 weights, whatever precision torch serves in,
with the batch (and the token count) as dynamic axes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from multimodal.fusion import MultimodalModel

TEXT_GRAPH = "text.onnx"
TEXT_TOP_GRAPH = "text_top.onnx"
IMAGE_TRUNK_GRAPH = "image_trunk.onnx"
IMAGE_TOP_GRAPH = "image_top.onnx"
GRAPHS = (TEXT_GRAPH, TEXT_TOP_GRAPH, IMAGE_TRUNK_GRAPH, IMAGE_TOP_GRAPH)
OPSET = 17
# The shape the tracer sees: small, and not 1, so no axis is specialised to a constant.
_TRACE_BATCH = 2
_TRACE_TOKENS = 7


class _TextGraph(nn.Module):
    def __init__(self, model: MultimodalModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model.text.trunk(input_ids, attention_mask)
        return self.model.text_vectors(hidden, attention_mask)


class _TextTopGraph(nn.Module):
    def __init__(self, model: MultimodalModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.text_vectors(hidden, attention_mask)


class _ImageTrunkGraph(nn.Module):
    def __init__(self, model: MultimodalModel) -> None:
        super().__init__()
        self.trunk = model.image.trunk

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.trunk.forward_with_mid(pixels)


class _ImageTopGraph(nn.Module):
    def __init__(self, model: MultimodalModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.model.photo_vectors(maps)


def export_graph(module: nn.Module, args: tuple, path: Path, inputs, outputs, axes) -> None:
    """The exporter puts ``module`` back in the mode it found it in, recursively: a
    wrapper left in its default training mode would switch the model to training
    (and its batch norms to updating their statistics) after the export."""
    torch.onnx.export(
        module.eval(),
        args,
        str(path),
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=axes,
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def export_graphs(model: MultimodalModel, image_size: int, directory: Path) -> None:
    """Write the four graphs of an fp32 ``model`` into ``directory``."""
    model.eval()
    if next(model.parameters()).dtype != torch.float32:
        raise ValueError("export needs the fp32 model (before any bf16 cast)")
    ids = torch.ones(_TRACE_BATCH, _TRACE_TOKENS, dtype=torch.long)
    mask = torch.ones_like(ids)
    pixels = torch.zeros(_TRACE_BATCH, 3, image_size, image_size)
    batch = {0: "batch"}
    # The tracer warns about every Python branch it records; those are on shapes fixed
    # per model (padding, the split point), which is what the exported graph assumes.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_graph(
            _TextGraph(model),
            (ids, mask),
            directory / TEXT_GRAPH,
            ["input_ids", "attention_mask"],
            ["vectors"],
            {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
        )
        export_graph(
            _TextTopGraph(model),
            (model.text.trunk(ids, mask), mask),
            directory / TEXT_TOP_GRAPH,
            ["hidden", "attention_mask"],
            ["vectors"],
            {"hidden": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
        )
        maps, _ = model.image.trunk.forward_with_mid(pixels)
        export_graph(
            _ImageTrunkGraph(model),
            (pixels,),
            directory / IMAGE_TRUNK_GRAPH,
            ["pixels"],
            ["maps", "mid"],
            {"pixels": batch, "maps": batch, "mid": batch},
        )
        export_graph(
            _ImageTopGraph(model),
            (maps,),
            directory / IMAGE_TOP_GRAPH,
            ["maps"],
            ["vectors"],
            {"maps": batch, "vectors": batch},
        )
