import torch

from multimodal.torchvision_compat import import_torchvision


def test_import_twice_and_build_a_model() -> None:
    first = import_torchvision()
    second = import_torchvision()
    assert first is second
    model = first.models.resnet18(weights=None, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
