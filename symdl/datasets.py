"""Data sets for the examples and tests: the digits bundled with scikit-learn (no download), an
MNIST reader for IDX files you downloaded yourself, and a minibatch iterator.

Both loaders return ``X_train, y_train, X_val, y_val, X_test, y_test`` with images as float32
``(N, 1, rows, cols)`` in [0, 1] and labels as int32, the layout of Lasagne's MNIST example.
Nothing here touches the network.

>>> import numpy as np
>>> from symdl.datasets import iterate_minibatches
>>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
>>> [len(yb) for _, yb in iterate_minibatches(X, y, 2, shuffle=False)]
[2, 2, 1]
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_digits", "load_mnist", "write_idx", "iterate_minibatches", "MNIST_FILES"]

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_HELP = (
    "MNIST is not bundled with symdl. Download the four files train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (from the "
    "MNIST page of Yann LeCun, or any mirror of it) into one directory and pass that directory; "
    "the files may stay gzipped. To try symdl without a download, use load_digits() instead."
)


def load_digits(n_val: int = 300, n_test: int = 300, seed: int = 0) -> Split:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn, split into train, validation
    and test sets by a fixed shuffle (``seed``): 1,197 / 300 / 300 by default.

    Images are float32 ``(N, 1, 8, 8)`` scaled to [0, 1], labels int32 in 0..9.

    >>> X_train, y_train, X_val, y_val, X_test, y_test = load_digits()
    >>> X_train.shape, X_train.dtype, y_test.shape, y_test.dtype
    ((1197, 1, 8, 8), dtype('float32'), (300,), dtype('int32'))
    >>> float(X_train.min()), float(X_train.max())
    (0.0, 1.0)
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, which ships the data: pip install 'symdl[examples]' "
            "(or pip install scikit-learn)"
        ) from exc
    digits = sklearn_digits()
    X = (digits.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int32)
    if n_val + n_test >= len(X):
        raise ValueError(f"load_digits: n_val + n_test = {n_val + n_test} leaves no training data of {len(X)}")
    order = np.random.RandomState(seed).permutation(len(X))
    X, y = X[order], y[order]
    n_train = len(X) - n_val - n_test
    return (
        X[:n_train],
        y[:n_train],
        X[n_train : n_train + n_val],
        y[n_train : n_train + n_val],
        X[n_train + n_val :],
        y[n_train + n_val :],
    )


def _find(directory: Path, base: str) -> Path:
    for name in (base, base + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"MNIST file {base}(.gz) is missing from {directory}. {MNIST_HELP}")


def _read(path: Path) -> bytes:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read the file ({exc}); is it a complete download?") from exc


def _parse_idx(path: Path, magic: int) -> np.ndarray:
    data = _read(path)
    ndim = 3 if magic == _IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    kind = "images" if ndim == 3 else "labels"
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an IDX {kind} header ({header} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(
            f"{path}: magic number {found} (0x{found:08x}) is not that of an IDX {kind} file "
            f"({magic}, 0x{magic:08x}); is this the right file?"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: the header announces {kind} of shape {dims} ({expected} bytes of data) but the file "
            f"holds {len(data) - header}; the file is truncated or corrupted"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _load_pair(directory: Path, images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    X = _parse_idx(_find(directory, MNIST_FILES[images]), _IMAGES_MAGIC)
    y = _parse_idx(_find(directory, MNIST_FILES[labels]), _LABELS_MAGIC)
    if len(X) != len(y):
        raise ValueError(f"MNIST {images} has {len(X)} images but {labels} has {len(y)} labels in {directory}")
    if y.size and y.max() > 9:
        raise ValueError(f"MNIST {labels} in {directory} holds label {int(y.max())}; labels must be 0..9")
    return (X[:, None, :, :] / np.float32(255)).astype(np.float32), y.astype(np.int32)


def load_mnist(path: str | os.PathLike, n_val: int | None = None) -> Split:
    """Read MNIST from the four IDX files (raw or ``.gz``) in directory ``path``.

    The last ``n_val`` training images become the validation set (default 10,000, as in
    Lasagne's example, or a sixth of the training set when that is smaller). Magic numbers,
    sizes and labels are checked; a missing directory or file raises FileNotFoundError saying
    what to download.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {directory} does not exist. {MNIST_HELP}")
    X_train, y_train = _load_pair(directory, "train_images", "train_labels")
    X_test, y_test = _load_pair(directory, "test_images", "test_labels")
    if n_val is None:
        n_val = min(10000, len(X_train) // 6)
    if not 0 <= n_val < len(X_train):
        raise ValueError(f"load_mnist: n_val={n_val} must leave training data of {len(X_train)} images")
    split = len(X_train) - n_val
    return X_train[:split], y_train[:split], X_train[split:], y_train[split:], X_test, y_test


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array of labels (1-d) or images (3-d) as an IDX file, gzipped when ``path``
    ends in ``.gz``: the format load_mnist reads (handy for your own data and for tests).

    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> write_idx(f"{d}/labels.gz", np.array([3, 1, 4], np.uint8))
    >>> _parse_idx(Path(f"{d}/labels.gz"), _LABELS_MAGIC).tolist()
    [3, 1, 4]
    """
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"write_idx: expected a 1-d or 3-d uint8 array, got {array.ndim}-d {array.dtype}")
    magic = _LABELS_MAGIC if array.ndim == 1 else _IMAGES_MAGIC
    header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *array.shape))
    payload = header + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def iterate_minibatches(
    X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True, rng: Any = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs covering the data once, the last batch possibly smaller.

    With ``shuffle`` the order is random, drawn from ``rng`` (a NumPy Generator or RandomState;
    a new default Generator when None).
    """
    if len(X) != len(y):
        raise ValueError(f"iterate_minibatches: {len(X)} inputs but {len(y)} targets")
    if batch_size < 1:
        raise ValueError(f"iterate_minibatches: batch_size must be positive, got {batch_size}")
    if shuffle:
        rng = np.random.default_rng() if rng is None else rng
        indices = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        if shuffle:
            batch = indices[start : start + batch_size]
        else:
            batch = slice(start, start + batch_size)
        yield X[batch], y[batch]
