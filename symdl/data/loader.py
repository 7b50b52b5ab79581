"""A background loader: batches are drawn, augmented and queued by worker threads while the
training step runs, so the step rarely waits for data."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from symdl.data.minibatches import as_generator

__all__ = ["BackgroundLoader"]


class BackgroundLoader:
    """Iterate over minibatches of ``(inputs, targets)``, each augmented by ``transform``, made
    ahead of time by background threads.

    Each pass (``for X, y in loader``) is one epoch: every example exactly once (the last
    batch smaller unless ``drop_last``), in a new order per epoch. Up to ``prefetch`` batches
    are prepared while the consumer works on the current one; they are delivered in order,
    and results do not depend on timing or on the number of workers: the order of epoch ``e``
    and the augmentation of its batch ``b`` are drawn from seeds made of ``(seed, e, b)``.

    Overlap needs the consumer to let go of the GIL while it works, as NumPy's large
    operations and a compiled step that releases it do; a step that holds it simply runs in
    turn with the workers.

    Parameters
    ----------
    inputs, targets : arrays
        Examples along the first axis (``targets`` may be None).
    batch_size : int
    transform : callable, optional
        ``transform(X_batch, seed) -> X_batch``, e.g. a :class:`~symdl.data.Compose` of augmentations.
    shuffle : bool
        A new random order each epoch (else the stored order).
    seed : int
        Seed of the orders and augmentations.
    prefetch : int
        How many batches may be ready or in preparation ahead of the consumer.
    num_workers : int
        Threads preparing batches.
    drop_last : bool
        Leave out a last, smaller batch.
    progress : bool or str
        Show a progress bar per epoch (tqdm's when installed, else a plain one on stderr); a
        string is used as its label.

    Examples
    --------
    >>> import numpy as np
    >>> from symdl.data import BackgroundLoader, RandomShift
    >>> X, y = np.zeros((10, 1, 8, 8), 'float32'), np.arange(10)
    >>> loader = BackgroundLoader(X, y, batch_size=4, transform=RandomShift(1), seed=0)
    >>> len(loader), [len(yb) for _, yb in loader]
    (3, [4, 4, 2])
    >>> sorted(np.concatenate([yb for _, yb in loader]).tolist()) == list(range(10))   # the next epoch
    True
    """

    def __init__(
        self,
        inputs: np.ndarray,
        targets: np.ndarray | None,
        batch_size: int,
        transform: Callable[..., np.ndarray] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        prefetch: int = 2,
        num_workers: int = 1,
        drop_last: bool = False,
        progress: bool | str = False,
    ):
        if targets is not None and len(inputs) != len(targets):
            raise ValueError(f"BackgroundLoader: {len(inputs)} inputs but {len(targets)} targets")
        if batch_size < 1 or prefetch < 1 or num_workers < 1:
            raise ValueError(
                f"BackgroundLoader: batch_size, prefetch and num_workers must be positive, got "
                f"{batch_size}, {prefetch}, {num_workers}"
            )
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.transform = transform
        self.shuffle = shuffle
        self.seed = seed
        self.prefetch = prefetch
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.progress = progress
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.inputs)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _make_batch(self, indices: Any, epoch: int, number: int) -> tuple[np.ndarray, Any]:
        X = self.inputs[indices]
        if self.transform is not None:
            X = self.transform(X, seed=[self.seed, epoch, number])
        return X, (self.targets[indices] if self.targets is not None else None)

    def __iter__(self) -> Iterator[tuple[np.ndarray, Any]]:
        epoch = self.epoch
        self.epoch += 1
        n = len(self.inputs)
        order = as_generator([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        starts = range(0, len(self) * self.batch_size, self.batch_size)
        batches = (order[start : start + self.batch_size] for start in starts)
        batches_iter = self._with_progress(self._prefetched(batches, epoch), epoch)
        yield from batches_iter

    def _prefetched(self, batches: Iterator[np.ndarray], epoch: int) -> Iterator[tuple[np.ndarray, Any]]:
        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="symdl-loader") as pool:
            try:
                for number, indices in enumerate(batches):
                    pending.append(pool.submit(self._make_batch, indices, epoch, number))
                    if len(pending) > self.prefetch:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:  # the consumer stopped early (break) or a batch failed: drop the rest
                for future in pending:
                    future.cancel()

    def _with_progress(self, batches: Iterator[Any], epoch: int) -> Iterator[Any]:
        if not self.progress:
            return batches
        label = self.progress if isinstance(self.progress, str) else f"epoch {epoch + 1}"
        try:
            from tqdm import tqdm
        except ImportError:
            return _plain_progress(batches, len(self), label)
        return iter(tqdm(batches, total=len(self), desc=label, leave=False, unit="batch"))


def _plain_progress(batches: Iterator[Any], total: int, label: str) -> Iterator[Any]:
    """A progress line on stderr for when tqdm is not installed."""
    start = time.perf_counter()
    for done, batch in enumerate(batches, start=1):
        yield batch
        print(f"\r{label}: {done}/{total} batches ({time.perf_counter() - start:.1f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
