"""The first-run bench's step timings, from the steps ``/progress`` named over time."""

from benchmarks.first_run import note_step, step_seconds


def _progress(stage: str) -> dict:
    return {"model": "frozen", "training": {"stage": stage, "done": 1, "total": 4}}


def test_each_step_lasts_until_the_next_one_is_named() -> None:
    starts: list[tuple[float, str]] = []
    for at, polled in [
        (90.0, _progress("encoding photos")),
        (92.0, _progress("encoding photos")),
        (190.0, _progress("stage2")),
        (192.0, None),  # a poll that got no answer changes nothing
        (610.0, _progress("indexing with the trained model")),
        (612.0, {"model": "frozen", "training": None}),
    ]:
        note_step(starts, polled, at)
    assert starts == [
        (90.0, "encoding photos"),
        (190.0, "stage2"),
        (610.0, "indexing with the trained model"),
    ]
    assert step_seconds(starts, 700.0) == {
        "encoding photos": 100.0,
        "stage2": 420.0,
        "indexing with the trained model": 90.0,
    }


def test_a_run_that_never_served_leaves_its_last_step_out() -> None:
    starts = [(90.0, "encoding photos"), (190.0, "stage2")]
    assert step_seconds(starts, None) == {"encoding photos": 100.0}
    assert step_seconds([], None) == {}
