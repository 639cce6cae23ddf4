import pytest
import torch
import torch.nn.functional as F

from multimodal.config import FusionConfig
from multimodal.fusion import FusionHead
from multimodal.losses import info_nce, symmetric_info_nce


@pytest.fixture()
def head() -> FusionHead:
    torch.manual_seed(0)
    return FusionHead(
        FusionConfig(embed_dim=16, hidden_dim=32), text_dim=8, image_dim=12, n_classes=3
    ).eval()


def test_projections_are_unit_vectors(head: FusionHead) -> None:
    t = head.embed_text(torch.randn(4, 8))
    v = head.embed_photos(torch.randn(5, 12))
    assert t.shape == (4, 16) and v.shape == (5, 16)
    torch.testing.assert_close(t.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(v.norm(dim=1), torch.ones(5))


def test_pool_photos_ignores_padding_and_empty_listings(head: FusionHead) -> None:
    photos = F.normalize(torch.randn(2, 2, 16), dim=-1)
    mask = torch.tensor([[True, False], [False, False]])
    pooled = head.pool_photos(photos, mask)
    torch.testing.assert_close(pooled[0], photos[0, 0])
    assert float(pooled[1].abs().sum()) == 0.0


def test_fuse_text_only_image_only_and_both(head: FusionHead) -> None:
    t = F.normalize(torch.randn(3, 16), dim=-1)
    v = F.normalize(torch.randn(3, 16), dim=-1)
    assert torch.equal(head.fuse(t, None), t)
    torch.testing.assert_close(head.fuse(None, v), v)
    fused = head.fuse(t, v)
    torch.testing.assert_close(fused.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError):
        head.fuse(None, None)
    assert head.classify(fused).shape == (3, 3)


def test_info_nce_rewards_alignment() -> None:
    a = F.normalize(torch.randn(6, 16), dim=-1)
    scale = torch.tensor(20.0)
    aligned = symmetric_info_nce(a, a, scale)
    shuffled = symmetric_info_nce(a, a.roll(1, dims=0), scale)
    assert aligned < shuffled


def test_info_nce_does_not_punish_duplicates() -> None:
    a = F.normalize(torch.randn(4, 16), dim=-1)
    keys = a.clone()
    keys[1] = a[0]  # listing 1 is a re-post of listing 0
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    scale = torch.tensor(50.0)
    assert info_nce(a, keys, scale, same) < info_nce(a, keys, scale)


def test_classify_listing_mixes_modes_and_ignores_missing_photos(head: FusionHead) -> None:
    from multimodal.blending import tune_mix_weights
    from multimodal.config import TrainConfig

    t = F.normalize(torch.randn(6, 16), dim=-1)
    v = F.normalize(torch.randn(6, 16), dim=-1)
    has = torch.tensor([True, True, True, False, False, False])
    fused = torch.where(has[:, None], head.fuse(t, v), t)
    plain = head.classify_listing(fused, t, v, has)
    torch.testing.assert_close(plain, head.classify(fused).log_softmax(-1))  # weights start at 0
    head.mix_weights.copy_(torch.tensor([1.0, 1.0]))
    mixed = head.classify_listing(fused, t, v, has)
    torch.testing.assert_close(mixed.exp().sum(1), torch.ones(6))
    no_photo = (head.classify(t[3:]).log_softmax(-1) * 2).log_softmax(-1)
    torch.testing.assert_close(mixed[3:], no_photo)  # listings without photos: text only
    vectors = {"text": t, "image": v, "fused": fused, "has_image": has}
    labels = head.classify(t).argmax(1)
    tuned = tune_mix_weights(head, vectors, labels, TrainConfig())
    assert tuple(head.mix_weights.tolist()) == tuned["mix_weights"]
    assert tuned["word_weight"] == 0.0  # no word channel: nothing to weigh
