"""The encode benchmark times every stage on the synthetic catalogue."""

import numpy as np

from benchmarks.encode import EncodeBenchConfig, run_encode_bench, summary_line
from indexing.config import IndexConfig
from indexing.vector_index import VectorIndex
from tests.fixtures.hashing_embedder import HashingEmbedder


def test_every_stage_is_timed(clean_synthetic):
    embedder = HashingEmbedder()
    texts = [listing.text for listing in clean_synthetic.listings]
    index = VectorIndex.build(np.arange(len(texts)), embedder.embed_texts(texts), IndexConfig())
    report = run_encode_bench(
        clean_synthetic, embedder, index, EncodeBenchConfig(queries=10, warmup=1)
    )
    assert set(report["stages"]) == {
        "text_encode",
        "photo_decode",
        "photo_encode",
        "text_and_photo_encode",
        "index_search",
    }
    assert all(s["n"] == 10 and s["p50_ms"] >= 0 for s in report["stages"].values())
    assert report["index"] == {"kind": "exact", "size": len(texts)}
    assert summary_line(report).startswith("encode: ")
