import copy
import logging
from pathlib import Path

import pytest
import torch

from multimodal.config import ImageEncoderConfig
from multimodal.data.transforms import imagenet_normalise, tf_normalise
from multimodal.encoders.image import (
    BackboneUnavailable,
    ImageEncoder,
    choose_backbone,
)
from multimodal.torchvision_compat import import_torchvision


@pytest.fixture(scope="module")
def resnet50_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A (random) torchvision ResNet-50 state dict written to disk, standing in for ImageNet's."""
    path = tmp_path_factory.mktemp("resnet") / "resnet50.pth"
    torch.manual_seed(0)
    torch.save(import_torchvision().models.resnet50(weights=None).state_dict(), path)
    return path


@pytest.fixture()
def empty_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_resnet50_from_a_weights_file(resnet50_weights: Path) -> None:
    cfg = ImageEncoderConfig(backbone="resnet50", resnet50_weights=str(resnet50_weights))
    encoder = ImageEncoder(cfg).eval()
    assert encoder.name == "resnet50" and encoder.dim == 2048
    assert encoder.normalise is imagenet_normalise
    assert encoder.fingerprint.startswith("resnet50-")
    assert encoder.fingerprint.endswith(f"{cfg.image_size}px")
    state = torch.load(resnet50_weights, weights_only=True)
    torch.testing.assert_close(encoder.trunk[0].weight, state["conv1.weight"])
    with torch.no_grad():
        assert encoder(torch.zeros(1, 3, 64, 64)).shape == (1, 2048)


def test_auto_prefers_resnet50_when_weights_exist(resnet50_weights: Path) -> None:
    choice = choose_backbone(ImageEncoderConfig(resnet50_weights=str(resnet50_weights)))
    assert choice.name == "resnet50" and "found" in choice.reason


def test_auto_falls_back_to_lite0_and_says_why(
    empty_torch_cache: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="multimodal.encoders.image"):
        encoder = ImageEncoder(ImageEncoderConfig(image_size=64))
    assert encoder.name == "efficientnet-lite0" and encoder.dim == 1280
    assert encoder.normalise is tf_normalise
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no ResNet-50 ImageNet weights" in lines[0]


def test_lite0_split_matches_the_whole_network() -> None:
    from efficientnet_lite_pytorch import EfficientNet

    encoder = ImageEncoder(
        ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64, trainable_blocks=2)
    ).eval()
    whole = EfficientNet.from_name("efficientnet-lite0", image_size=64)
    whole.load_state_dict(torch.load(choose_backbone(encoder.cfg).weights, weights_only=True))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = whole.eval().extract_features(x).mean(dim=(2, 3))
        torch.testing.assert_close(encoder(x), expected, atol=1e-4, rtol=1e-4)
    assert not any(p.requires_grad for p in encoder.trunk.parameters())
    assert all(p.requires_grad for p in encoder.top.parameters())


@pytest.mark.parametrize("trainable_blocks", [1, 2, 5])
def test_lite0_top_channels_last_matches_the_library_modules(trainable_blocks: int) -> None:
    """Stage 2's top (frozen BatchNorms, dropout on) runs channels-last: its output and
    every gradient match the library's NCHW modules. Two blocks add the skip and drop
    connect; five reach a stride-2 block, whose "same" padding is asymmetric."""
    torch.manual_seed(0)
    encoder = ImageEncoder(
        ImageEncoderConfig(
            backbone="efficientnet-lite0", image_size=128, trainable_blocks=trainable_blocks
        )
    ).train()
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
    with torch.no_grad():
        maps = encoder.trunk(torch.randn(3, 3, 128, 128))
    twin = copy.deepcopy(encoder.top)
    torch.manual_seed(1)
    fast = encoder.top(maps)
    torch.manual_seed(1)
    reference = twin.reference(maps)
    torch.testing.assert_close(fast, reference, atol=1e-4, rtol=1e-4)
    fast.square().sum().backward()
    reference.square().sum().backward()
    for mine, theirs in zip(encoder.top.parameters(), twin.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None
        torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-4, rtol=1e-3)


def test_lite0_top_with_training_batchnorm_runs_the_library_modules() -> None:
    """A BatchNorm in training mode updates its running statistics: only the library's
    modules do that, so the top takes their path."""
    encoder = ImageEncoder(ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64))
    encoder.train()
    maps = torch.randn(4, 192, 2, 2)
    before = encoder.top.head[1].running_mean.clone()
    encoder.top(maps)
    assert not torch.equal(encoder.top.head[1].running_mean, before)


def test_missing_weights_file_and_unknown_backbone() -> None:
    with pytest.raises(BackboneUnavailable, match="does not exist"):
        choose_backbone(ImageEncoderConfig(backbone="resnet50", resnet50_weights="/nope.pth"))
    with pytest.raises(ValueError, match="unknown image backbone"):
        choose_backbone(ImageEncoderConfig(backbone="vgg"))


def test_trunks_also_return_their_stride_16_map(resnet50_weights: Path) -> None:
    """``forward_with_mid`` is the trunk's own output plus the map the instance
    texture statistics read: the end of Lite0's block 10, ResNet-50's layer3."""
    lite0 = ImageEncoder(ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64)).eval()
    resnet = ImageEncoder(
        ImageEncoderConfig(backbone="resnet50", resnet50_weights=str(resnet50_weights))
    ).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps, mid = lite0.trunk.forward_with_mid(x)
        torch.testing.assert_close(maps, lite0.trunk(x))
        partial = lite0.trunk.stem(x)
        for block in lite0.trunk.blocks[:11]:
            partial = block(partial, drop_connect_rate=0.0)
        torch.testing.assert_close(mid, partial)
        assert mid.shape == (2, 112, 4, 4)  # 64 px / 16

        maps, mid = resnet.trunk.forward_with_mid(x)
        torch.testing.assert_close(maps, resnet.trunk(x))
        torch.testing.assert_close(mid, torch.nn.Sequential(*list(resnet.trunk)[:7])(x))
        assert mid.shape == (2, 1024, 4, 4)
