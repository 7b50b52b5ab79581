"""Two ranks under ``mpiexec -n 2 --oversubscribe`` (launched by the tests; see conftest.py and
scenarios.py): data-parallel training equals one process on the full batches, broadcast, the
gradient of an all-reduce, the overlap of the all-reduce with the backward pass, and failures
that end every rank with a clear error instead of a hang."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

SCENARIOS = Path(__file__).resolve().parent / "scenarios.py"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mlp_digits.py"

TIMEOUT_AFTER_A_FAILURE = 30  # seconds: the acceptance limit for the other rank to exit


@pytest.fixture(scope="module", params=["thread", "test"])
def trained(mpirun, tmp_path_factory, request):
    """The ``train`` scenario's reports of both ranks, for each way the all-reduces advance."""
    out = tmp_path_factory.mktemp("train")
    launch = mpirun([SCENARIOS, "train", out, request.param])
    assert launch.returncode == 0, launch.output[-4000:]
    reports = [json.loads((out / f"train-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert all(report["progress"] == request.param for report in reports)
    return reports


RUNS = ["c/momentum", "c/adam", "py/momentum", "py/adam"]


@pytest.mark.parametrize("run", RUNS)
def test_two_ranks_on_half_batches_end_where_one_process_on_full_batches_ends(trained, run):
    for report in trained:
        assert report["size"] == 2
        result = report["runs"][run]
        assert result["backend"] == run.split("/")[0]
        # 20 steps; the only difference is the order of float32 sums (two half-batch means averaged)
        assert result["max_param_difference"] < 2e-5, result["max_param_difference"]
        assert result["max_loss_difference"] < 1e-5


@pytest.mark.parametrize("run", RUNS)
def test_every_rank_holds_the_same_parameters_after_training(trained, run):
    first, second = (report["runs"][run]["params"] for report in trained)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(np.float32(a), np.float32(b))


def test_broadcast_gives_every_rank_the_values_of_rank_0(trained):
    for report in trained:
        assert all(result["equal_after_broadcast"] for result in report["runs"].values())


def test_the_gradient_of_an_allreduce_is_the_allreduce_of_the_output_gradient(trained):
    for report in trained:
        # d/dx sum(allreduce(x) * (rank + 1)) over ranks 0 and 1: 1 + 2, or their mean
        assert report["gradient"] == {"sum": [3.0] * 3, "mean": [1.5] * 3}


def test_the_first_bucket_starts_before_the_last_gradient_is_computed(trained):
    for report in trained:
        overlap = report["overlap"]
        events = [(event, t) for event, label, t in overlap["events"] if "grad" in label]
        starts = [t for event, t in events if event == "start"]
        waits = [t for event, t in events if event == "wait"]
        computed = [t for _, t in overlap["gradients"]]  # when each of the 6 gradients was computed
        assert len(starts) >= 3 and len(computed) == 6
        # as it ran: the first all-reduce was under way while gradients were still being computed,
        # and no wait came before the last gradient
        assert min(starts) < max(computed)
        assert max(computed) < min(waits)
        # as it was planned (the same order for the C driver and the NumPy VM)
        plan = overlap["plan"]
        first_start = min(k for k, op in enumerate(plan) if op.startswith("AllreduceStart"))
        last_gradient = max(k for k, op in enumerate(plan) if op.startswith("Probe"))
        first_wait = min(k for k, op in enumerate(plan) if op.startswith("AllreduceWait"))
        assert first_start < last_gradient < first_wait


def test_a_rank_that_raises_ends_the_other_with_a_clear_error(mpirun, tmp_path):
    launch = mpirun([SCENARIOS, "raise", tmp_path], timeout=120)
    assert launch.returncode != 0
    raised_at = float((tmp_path / "raised_at").read_text())
    assert launch.ended_at - raised_at < TIMEOUT_AFTER_A_FAILURE
    assert "rank 1 fails on purpose" in launch.output
    assert "rank 1 of 2 raised RuntimeError" in launch.output and "aborting every rank" in launch.output
    assert not list(tmp_path.glob("raise-rank*.json")), "a rank finished the step its peer never joined"


def test_a_rank_that_never_joins_makes_the_waiting_rank_time_out_with_a_clear_error(mpirun, tmp_path):
    launch = mpirun([SCENARIOS, "hang", tmp_path], timeout=120)
    assert launch.returncode != 0
    waiting_since = float((tmp_path / "waiting_since").read_text())
    assert launch.ended_at - waiting_since < TIMEOUT_AFTER_A_FAILURE
    assert "DistributedError" in launch.output
    assert "did not complete within 3 s" in launch.output


def test_ranks_that_reduce_different_buckets_together_get_a_clear_error(mpirun, tmp_path):
    launch = mpirun([SCENARIOS, "mismatch", tmp_path], timeout=120)
    assert launch.returncode != 0
    assert "was reduced together with a different bucket" in launch.output


def test_the_digits_example_runs_data_parallel_on_two_ranks(mpirun):
    launch = mpirun([EXAMPLE, "--distributed", "--quick"])
    assert launch.returncode == 0, launch.output[-3000:]
    assert "rank 0 of 2" in launch.output and launch.output.count("test accuracy") == 1


@pytest.mark.slow
def test_the_digits_example_on_two_ranks_reaches_the_accuracy_of_one_process(mpirun):
    launch = mpirun([EXAMPLE, "--distributed"])
    assert launch.returncode == 0, launch.output[-3000:]
    accuracy = float(re.search(r"test accuracy (\d+\.\d+) %", launch.output).group(1))
    assert accuracy >= 97.0, launch.output[-3000:]  # one process: the same target (tests/test_examples.py)
