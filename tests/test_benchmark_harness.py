"""The benchmark harness's merging of round-robin rounds (``--rounds``): numbers become their
median, their values are kept, and a failed round is what the row reports."""

from benchmarks.harness import median_round


def test_rounds_merge_into_the_median_of_each_number():
    rounds = [
        {"status": "ok", "ms": 3.0, "check": [1.0, 2.0], "version": "1", "wall_s": 4.0},
        {"status": "ok", "ms": 2.0, "check": [1.0, 2.0], "version": "1", "wall_s": 5.0},
        {"status": "ok", "ms": 9.0, "check": [1.0, 2.0], "version": "1", "wall_s": 6.0},
    ]
    merged = median_round(rounds)
    assert merged["ms"] == 3.0 and merged["rounds"]["ms"] == [3.0, 2.0, 9.0]
    assert merged["check"] == [1.0, 2.0] and merged["version"] == "1" and "wall_s" not in merged["rounds"]


def test_a_failed_round_is_reported_and_one_round_is_left_as_is():
    ok = {"status": "ok", "ms": 1.0}
    broken = {"status": "error", "detail": "boom"}
    assert median_round([ok, broken, ok]) is broken
    assert median_round([ok]) is ok
