"""Charging py-spy's collapsed stacks to kinds of work, leaf first."""

from __future__ import annotations

from benchmarks.profile_shares import OTHER, kind_of, profile_shares


def test_a_stack_goes_to_the_kind_nearest_its_leaf():
    ranking_numpy = ["run (api/service.py:10)", "rank (api/ranking.py:5)", "dot (numpy/x.py:1)"]
    decoding = [
        "search (api/routes/search.py:3)",
        "decode (api/image_input.py:9)",
        "load (PIL/Image.py:2)",
    ]
    model = ["embed (multimodal/embedder.py:188)", "Session.run (onnxruntime/capi/x.py:406)"]
    assert kind_of(ranking_numpy) == "search logic (ranking, lexical, facets)"
    assert kind_of(decoding) == "photo decoding (PIL, base64)"
    assert kind_of(model) == "model passes (ONNX Runtime, torch)"
    assert kind_of(["<module> (somewhere.py:1)"]) == OTHER


def test_shares_sum_to_one_over_files_and_skip_a_missing_one(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("process 1;x (faiss/swigfaiss.py:1) 3\nprocess 1;y (api/ranking.py:2) 1\n")
    second.write_text("process 2;Session.run (onnxruntime/x.py:1) 4\n")
    shares = profile_shares([first, second, tmp_path / "never-written.txt"])
    assert shares == {
        "model passes (ONNX Runtime, torch)": 0.5,
        "vector search (FAISS)": 0.375,
        "search logic (ranking, lexical, facets)": 0.125,
    }
    assert profile_shares([tmp_path / "never-written.txt"]) == {}
