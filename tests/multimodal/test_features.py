from pathlib import Path

import numpy as np

from multimodal.features import FeatureCache, cached_compute, file_key, pad_states, text_key


def test_cache_round_trip_across_instances(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "image-lite0/224px")
    items = {"a": np.ones((3, 2), np.float16), "b": np.zeros((1, 2), np.float16)}
    cache.put(items)
    again = FeatureCache(tmp_path, "image-lite0/224px")
    assert len(again) == 2 and "a" in again
    a, b = again.get(["a", "b"])
    assert a.shape == (3, 2) and b.shape == (1, 2) and a.dtype == np.float16


def test_only_missing_items_are_computed_and_stats_recorded(tmp_path: Path) -> None:
    calls: list[list[object]] = []

    def compute(batch: list[object]) -> list[np.ndarray]:
        calls.append(batch)
        return [np.full(2, float(len(str(x)))) for x in batch]

    cache = FeatureCache(tmp_path, "ns")
    out, computed = cached_compute(cache, ["k1", "k2"], ["x", "yy"], compute, 8, "test")
    assert computed == 2 and [o[0] for o in out] == [1.0, 2.0]
    out, computed = cached_compute(
        FeatureCache(tmp_path, "ns"), ["k2", "k3"], ["yy", "zzz"], compute, 8, "test"
    )
    assert computed == 1 and calls[-1] == ["zzz"]
    assert FeatureCache(tmp_path, "ns").stats()["items"] == 3


def test_keys_follow_content(tmp_path: Path) -> None:
    one, two = tmp_path / "1.jpg", tmp_path / "2.jpg"
    one.write_bytes(b"same")
    two.write_bytes(b"same")
    assert file_key(one) == file_key(two)
    assert text_key("sofa") != text_key("sofa ")


def test_pad_states_masks_padding() -> None:
    hidden, mask = pad_states([np.ones((2, 4), np.float16), np.ones((3, 4), np.float16)])
    assert hidden.shape == (2, 3, 4)
    assert mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert float(hidden[0, 2].abs().sum()) == 0.0
