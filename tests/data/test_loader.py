"""BackgroundLoader: coverage per epoch, determinism, overlap with the training step, errors."""

import sys
import threading

import numpy as np
import pytest

from symdl.data import BackgroundLoader, RandomShift

WAIT = 30.0  # seconds; only ever reached when the loader fails to overlap


def data(n=37):
    X = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)
    return X, np.arange(n)


@pytest.mark.parametrize("num_workers", [1, 3])
def test_every_example_is_delivered_once_per_epoch_in_a_new_order(num_workers):
    X, y = data()
    loader = BackgroundLoader(X, y, batch_size=5, seed=1, num_workers=num_workers, prefetch=3)
    orders = []
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader) == 8
        order = np.concatenate([yb for _, yb in batches])
        assert sorted(order.tolist()) == list(range(37))
        for Xb, yb in batches:
            np.testing.assert_array_equal(Xb[:, 0, 0, 0], yb)
        orders.append(order.tolist())
    assert orders[0] != orders[1] != orders[2]
    assert [len(yb) for _, yb in BackgroundLoader(X, y, 5, drop_last=True)] == [5] * 7


def test_batches_do_not_depend_on_the_number_of_workers():
    X, y = data()
    runs = []
    for workers in (1, 4):
        loader = BackgroundLoader(X, y, 6, transform=RandomShift(1), seed=9, num_workers=workers)
        runs.append([(Xb.copy(), yb) for epoch in range(2) for Xb, yb in loader])
    for (Xa, ya), (Xb, yb) in zip(*runs):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)


def test_augmentation_of_the_next_batch_runs_while_the_step_runs():
    """Batch k+1's augmentation can only finish once step k has started, and step k only ends
    once batch k+1 is made: without overlap the two wait for each other and the test fails."""
    X, y = data(40)
    n_batches = 8
    step_started = [threading.Event() for _ in range(n_batches)]
    batch_made = [threading.Event() for _ in range(n_batches)]
    failures = []

    def augment(batch, seed):
        number = seed[2]
        if number > 0 and not step_started[number - 1].wait(WAIT):
            failures.append(f"batch {number} was made before step {number - 1} started, never during it")
        batch_made[number].set()
        return batch + 1

    loader = BackgroundLoader(X, y, 5, transform=augment, prefetch=2)
    for k, (Xb, yb) in enumerate(loader):
        step_started[k].set()  # the "training step": it waits, as a compiled step releasing the GIL
        if k + 1 < n_batches and not batch_made[k + 1].wait(WAIT):
            failures.append(f"batch {k + 1} was not made during step {k}")
        np.testing.assert_array_equal(Xb[:, 0, 0, 0], yb + 1)
    assert not failures
    assert all(event.is_set() for event in batch_made)


def test_errors_in_the_transform_reach_the_consumer_and_an_early_break_stops_the_workers():
    X, y = data()

    def broken(batch, seed):
        if seed[2] == 2:
            raise RuntimeError("bad batch 2")
        return batch

    with pytest.raises(RuntimeError, match="bad batch 2"):
        for _ in BackgroundLoader(X, y, 5, transform=broken):
            pass
    for _ in BackgroundLoader(X, y, 5, prefetch=4):
        break
    assert not [t for t in threading.enumerate() if t.name.startswith("symdl-loader")]


def test_progress_bar_with_tqdm_and_without(capsys, monkeypatch):
    X, y = data()
    list(BackgroundLoader(X, y, 5, progress="training"))
    assert "training" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    list(BackgroundLoader(X, y, 5, progress=True))
    assert "epoch 1: 8/8 batches" in capsys.readouterr().err


def test_bad_arguments_are_reported():
    X, y = data()
    with pytest.raises(ValueError, match="37 inputs but 36 targets"):
        BackgroundLoader(X, y[:-1], 5)
    with pytest.raises(ValueError, match="must be positive, got 5, 0, 1"):
        BackgroundLoader(X, y, 5, prefetch=0)
