"""Minibatches of arrays, the loop every Lasagne example wrote for itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["iterate_minibatches", "as_generator"]


def as_generator(seed: Any) -> np.random.Generator:
    """A NumPy Generator from ``seed``: an int (or sequence of ints), a Generator (returned as
    is), a legacy ``RandomState`` (a Generator seeded from it), or None (fresh entropy).

    >>> int(as_generator(0).integers(10)) == int(as_generator(0).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(2**31))
    return np.random.default_rng(seed)


def iterate_minibatches(
    inputs: np.ndarray,
    targets: np.ndarray | None,
    batch_size: int,
    shuffle: bool = True,
    seed: Any = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(inputs_batch, targets_batch)`` pairs that cover the data once.

    Parameters
    ----------
    inputs, targets : arrays
        Examples along the first axis, as many targets as inputs (``targets=None`` for
        unlabelled data: the second item is then None).
    batch_size : int
    shuffle : bool
        Visit the examples in a random order (drawn from ``seed``) rather than in order.
    seed : int, Generator or None
        The order's seed: the same seed gives the same order; a Generator continues its stream
        (pass one Generator to get a new order every epoch); None draws fresh entropy.
    drop_last : bool
        Leave out the last batch when it is smaller than ``batch_size`` (Lasagne's examples
        did, so that every batch has the compiled function's batch size).

    Examples
    --------
    >>> import numpy as np
    >>> from symdl.data import iterate_minibatches
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in iterate_minibatches(X, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> [yb.tolist() for _, yb in iterate_minibatches(X, y, 2, seed=0, drop_last=True)]
    [[2, 4], [3, 0]]
    """
    if targets is not None and len(inputs) != len(targets):
        raise ValueError(f"iterate_minibatches: {len(inputs)} inputs but {len(targets)} targets")
    if batch_size < 1:
        raise ValueError(f"iterate_minibatches: batch_size must be positive, got {batch_size}")
    order = as_generator(seed).permutation(len(inputs)) if shuffle else None
    stop = len(inputs) - len(inputs) % batch_size if drop_last else len(inputs)
    for start in range(0, stop, batch_size):
        batch: Any = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
        yield inputs[batch], (targets[batch] if targets is not None else None)
