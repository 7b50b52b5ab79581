"""Each rank's part of the data: ``shard`` splits one batch, ``DistributedSampler`` walks an epoch.

Data-parallel training with a *global* batch of B examples gives each of the N ranks B/N of
them; with gradients averaged over the ranks (``allreduce_grads(..., op='mean')``) the step is
then the step one process would take on the whole batch, as long as the shards have equal sizes
(make B a multiple of N).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def _rank_and_size(rank: int | None, size: int | None) -> tuple[int, int]:
    if rank is None or size is None:
        from symdl.distributed.comm import communicator

        comm = communicator()
        rank = comm.rank if rank is None else rank
        size = comm.size if size is None else size
    if not 0 <= rank < size:
        raise ValueError(f"shard: rank must be in [0, {size}), got {rank}")
    return int(rank), int(size)


def shard(data: Any, rank: int | None = None, size: int | None = None) -> Any:
    """Rank ``rank``'s contiguous part of ``data`` along its first axis, when ``size`` ranks share
    it (default: this process's rank and the number of ranks). The parts of all ranks, in rank
    order, are ``data`` again; their lengths differ by at most one. A tuple of arrays (inputs and
    labels) gives a tuple of parts.

    >>> import numpy as np
    >>> shard(np.arange(10), rank=1, size=3)
    array([3, 4, 5])
    >>> x, y = shard((np.zeros((4, 2)), np.arange(4)), rank=0, size=2)
    >>> x.shape, y
    ((2, 2), array([0, 1]))
    """
    rank, size = _rank_and_size(rank, size)
    if isinstance(data, tuple):
        return tuple(shard(part, rank, size) for part in data)
    n = len(data)
    return data[n * rank // size : n * (rank + 1) // size]


class DistributedSampler:
    """The indices of this rank's part of each global batch of an epoch.

    Every rank draws the same permutation of ``n_samples`` for each epoch (from ``seed`` and the
    epoch number: call ``set_epoch`` before each epoch to reshuffle), cuts it into global batches
    of ``global_batch_size`` and keeps its ``shard`` of each, so the ranks together see each
    global batch that one process with the same seed would see.

    Parameters
    ----------
    n_samples : int
        The size of the data set.
    global_batch_size : int
        Examples per step over all ranks (a multiple of the number of ranks gives equal shards).
    seed : int
        The seed of the shuffling, the same on every rank.
    shuffle : bool
        False: the batches in order.
    drop_last : bool
        Leave out the last global batch when it is smaller than the others.
    rank, size : int, optional
        Default: this process's rank and the number of ranks.

    Examples
    --------
    >>> import numpy as np
    >>> sampler = DistributedSampler(10, global_batch_size=4, seed=0, rank=0, size=2)
    >>> len(sampler)
    3
    >>> [len(b) for b in sampler]
    [2, 2, 1]
    >>> both = [DistributedSampler(10, 4, seed=0, rank=r, size=2) for r in (0, 1)]
    >>> everything = np.concatenate([i for s in both for i in s])
    >>> sorted(everything.tolist()) == list(range(10))
    True
    """

    def __init__(
        self,
        n_samples: int,
        global_batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int | None = None,
        size: int | None = None,
    ):
        self.rank, self.size = _rank_and_size(rank, size)
        if global_batch_size < self.size:
            raise ValueError(
                f"DistributedSampler: a global batch of {global_batch_size} cannot give each of {self.size} "
                "ranks an example"
            )
        self.n_samples, self.global_batch_size = int(n_samples), int(global_batch_size)
        self.seed, self.shuffle, self.drop_last = int(seed), bool(shuffle), bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for ``epoch`` (the same order on every rank)."""
        self.epoch = int(epoch)

    def global_batches(self) -> list[np.ndarray]:
        """Every rank's global batches of the current epoch (the indices of all ranks)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_samples)
        else:
            order = np.arange(self.n_samples)
        stop = self.n_samples
        if self.drop_last:
            stop -= self.n_samples % self.global_batch_size
        batches = [order[k : k + self.global_batch_size] for k in range(0, stop, self.global_batch_size)]
        return [b for b in batches if len(b) >= self.size]  # a tail too short to give every rank one: left out

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.global_batches():
            yield shard(batch, self.rank, self.size)

    def __len__(self) -> int:
        return len(self.global_batches())

    def batches(self, *arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        """This rank's part of each global batch of ``arrays`` (indexed along their first axis).

        >>> import numpy as np
        >>> s = DistributedSampler(4, 4, shuffle=False, rank=1, size=2)
        >>> [(x.tolist(), y.tolist()) for x, y in s.batches(np.arange(4), np.arange(4) * 10)]
        [([2, 3], [20, 30])]
        """
        for index in self:
            yield tuple(a[index] for a in arrays)
