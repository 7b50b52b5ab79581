"""iterate_minibatches: coverage, seeds, the last batch."""

import numpy as np
import pytest

from symdl.data import as_generator, iterate_minibatches


def test_every_example_once_in_a_seeded_order():
    X, y = np.arange(23)[:, None] * np.ones((1, 2)), np.arange(23)
    batches = list(iterate_minibatches(X, y, 5, seed=3))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)  # inputs and targets stay paired
    again = np.concatenate([yb for _, yb in iterate_minibatches(X, y, 5, seed=3)])
    np.testing.assert_array_equal(seen, again)


def test_drop_last_gives_only_full_batches_and_a_generator_gives_new_orders():
    y = np.arange(10)
    assert [len(b) for _, b in iterate_minibatches(y, y, 4, drop_last=True, seed=0)] == [4, 4]
    rng = as_generator(0)
    first = [b.tolist() for _, b in iterate_minibatches(y, y, 10, seed=rng)]
    second = [b.tolist() for _, b in iterate_minibatches(y, y, 10, seed=rng)]
    assert first != second


def test_unlabelled_data_and_bad_arguments():
    assert [b for _, b in iterate_minibatches(np.zeros(3), None, 2, shuffle=False)] == [None, None]
    with pytest.raises(ValueError, match="5 inputs but 4 targets"):
        next(iterate_minibatches(np.zeros(5), np.zeros(4), 2))
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        next(iterate_minibatches(np.zeros(5), np.zeros(5), 0))
