"""Data augmentation: random transforms of a batch of images, vectorized over the batch.

Each transform takes a ``(batch, channels, rows, cols)`` array and a seed and returns a new
array (the input is never changed); every example gets its own random draw, and the same seed
gives the same batch. Transforms compose with :class:`Compose`, and at zero strength each is
the identity.

Think about what your data needs (the talk's caveat): an augmentation must produce examples
that could really occur, with the same label.

==========================  ==========================================  ==============================
transform                   suits                                       not for
==========================  ==========================================  ==============================
:class:`HorizontalFlip`     photos of objects, animals, people, scenes  digits, letters, text, road signs
                                                                        with arrows (a mirrored 2 is no 2)
:class:`VerticalFlip`       satellite, aerial and microscope images,    people, scenes, digits: the world
                            textures (no up or down)                    has an up
:class:`RandomCrop`         photos where the object may sit anywhere    images whose edges hold the label
                            (CIFAR: pad 4, crop 32)
:class:`RandomShift`        small images, digits (one or two pixels)    images centred by design, if the
                                                                        position matters
:class:`RandomRotation`     handwriting and photos (a few degrees),     digits beyond ~15 degrees (6 and
                            microscopy (any angle)                      9), text lines
:class:`RandomScale`        objects at varying distances                measurements where size matters
                                                                        (cells, calibrated images)
:class:`BrightnessContrast` photos under varying light                  images whose intensity is the
                                                                        signal (X-ray densities)
:class:`Normalize`          every input (not random: per-channel        —
                            standardisation, with statistics of the
                            training set only)
==========================  ==========================================  ==============================

>>> import numpy as np
>>> from symdl.data import Compose, RandomShift, RandomRotation
>>> X = np.random.default_rng(0).random((16, 1, 8, 8)).astype('float32')
>>> augment = Compose([RandomShift(1), RandomRotation(10)])
>>> out = augment(X, seed=42)
>>> out.shape, out.dtype, bool(np.array_equal(out, augment(X, seed=42)))
((16, 1, 8, 8), dtype('float32'), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symdl.data.minibatches import as_generator

__all__ = [
    "Transform",
    "Compose",
    "HorizontalFlip",
    "VerticalFlip",
    "RandomCrop",
    "RandomShift",
    "RandomAffine",
    "RandomRotation",
    "RandomScale",
    "BrightnessContrast",
    "Normalize",
]


class Transform:
    """Base class: ``transform(X, seed=None)`` checks ``X`` and calls ``apply(X, rng)``.

    Write a transform by overriding ``apply(self, X, rng)``: ``X`` is a 4-d array
    ``(batch, channels, rows, cols)``, ``rng`` a NumPy Generator to draw from; return a new array.
    """

    def __call__(self, X: np.ndarray, seed: Any = None) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 4:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of images (batch, channels, rows, cols), got shape {X.shape}"
            )
        return self.apply(X, as_generator(seed))

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement apply")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _float_dtype(X: np.ndarray) -> Any:
    return X.dtype if X.dtype.kind == "f" else np.float32


class Compose(Transform):
    """Apply transforms one after the other, all drawing from the one seed.

    >>> import numpy as np
    >>> from symdl.data import Compose, HorizontalFlip, Normalize
    >>> X = np.arange(4, dtype='float32').reshape(1, 1, 1, 4)
    >>> Compose([HorizontalFlip(p=1.0), Normalize(mean=[1.0], std=[2.0])])(X)
    array([[[[ 1. ,  0.5,  0. , -0.5]]]], dtype=float32)
    """

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            X = transform.apply(X, rng)
        return X


class HorizontalFlip(Transform):
    """Mirror each image left to right with probability ``p``.

    >>> import numpy as np
    >>> from symdl.data import HorizontalFlip
    >>> HorizontalFlip(p=1.0)(np.array([[[[1, 2, 3]]]]))
    array([[[[3, 2, 1]]]])
    """

    axis = -1

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(len(X)) < self.p
        out = X.copy()
        out[flip] = np.flip(X[flip], axis=self.axis)
        return out


class VerticalFlip(HorizontalFlip):
    """Turn each image upside down with probability ``p`` (images with no up: satellite,
    microscopy; never people or digits)."""

    axis = -2


class RandomCrop(Transform):
    """Pad each image by ``padding`` pixels, then cut a ``size`` window at a random place.

    Parameters
    ----------
    size : int, (int, int) or None
        The window (rows, cols); None keeps the input's size (so with ``padding`` the image
        moves by up to ``padding`` pixels each way: CIFAR's "pad 4, random crop 32").
    padding : int
        Pixels added on every side.
    fill : float
        The value of the added pixels (``mode='constant'``).
    mode : str
        How to pad, as ``numpy.pad``: 'constant', 'edge', 'reflect', ...

    >>> import numpy as np
    >>> from symdl.data import RandomCrop
    >>> RandomCrop(size=2)(np.zeros((5, 3, 8, 8)), seed=0).shape
    (5, 3, 2, 2)
    """

    def __init__(self, size: Any = None, padding: int = 0, fill: float = 0.0, mode: str = "constant"):
        if padding < 0:
            raise ValueError(f"{type(self).__name__}: padding must be >= 0, got {padding}")
        self.size = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
        self.padding = int(padding)
        self.fill = fill
        self.mode = mode

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pad = self.padding
        rows, cols = self.size or X.shape[2:]
        if pad:
            extra = {"constant_values": self.fill} if self.mode == "constant" else {}
            X = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=self.mode, **extra)
        if rows > X.shape[2] or cols > X.shape[3]:
            raise ValueError(
                f"{type(self).__name__}: a {rows}x{cols} window does not fit in images of "
                f"{X.shape[2] - 2 * pad}x{X.shape[3] - 2 * pad} padded by {pad}"
            )
        top = rng.integers(0, X.shape[2] - rows + 1, size=len(X))
        left = rng.integers(0, X.shape[3] - cols + 1, size=len(X))
        windows = sliding_window_view(X, (rows, cols), axis=(2, 3))  # (N, C, R', C', rows, cols), no copy
        return np.ascontiguousarray(windows[np.arange(len(X)), :, top, left])


class RandomShift(RandomCrop):
    """Move each image by a whole number of pixels, up to ``max_shift`` each way along each
    axis, filling the uncovered border with ``fill`` (the background of digits: 0).

    >>> import numpy as np
    >>> from symdl.data import RandomShift
    >>> X = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> bool(np.array_equal(RandomShift(0)(X), X))
    True
    """

    def __init__(self, max_shift: int, fill: float = 0.0, mode: str = "constant"):
        super().__init__(size=None, padding=max_shift, fill=fill, mode=mode)
        self.max_shift = max_shift


def _as_range(value: Any, centre: float, what: str) -> tuple[float, float]:
    if isinstance(value, int | float):
        low, high = centre - value, centre + value
    else:
        low, high = (float(v) for v in value)
    if low > high:
        raise ValueError(f"{what}: the range {value!r} is empty")
    return float(low), float(high)


class RandomAffine(Transform):
    """Rotate, scale and translate each image by random amounts about its centre, with
    bilinear interpolation; pixels that come from outside the image get ``fill``.

    Parameters
    ----------
    rotation : float or (float, float)
        Degrees: ``r`` draws from ``[-r, r]``, a pair from that range.
    scale : float or (float, float)
        Zoom factor: ``s`` draws from ``[1 - s, 1 + s]``, a pair from that range.
    shift : float or (float, float)
        Pixels (fractions allowed), along both axes: ``t`` draws each from ``[-t, t]``.
    fill : float

    All at zero (the defaults) is the identity, exactly.

    >>> import numpy as np
    >>> from symdl.data import RandomAffine
    >>> X = np.zeros((1, 1, 5, 5), 'float32'); X[0, 0, 2, :] = 1     # a horizontal bar
    >>> quarter = RandomAffine(rotation=(90, 90))(X)
    >>> quarter[0, 0].round(3).astype(int).tolist()[1]                 # now vertical
    [0, 0, 1, 0, 0]
    """

    def __init__(self, rotation: Any = 0.0, scale: Any = 0.0, shift: Any = 0.0, fill: float = 0.0):
        self.rotation = _as_range(rotation, 0.0, "RandomAffine rotation")
        self.scale = _as_range(scale, 1.0, "RandomAffine scale")
        if self.scale[0] <= 0:
            raise ValueError(f"RandomAffine: the scale factors must be positive, got {self.scale}")
        self.shift = _as_range(shift, 0.0, "RandomAffine shift")
        self.fill = fill

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, channels, rows, cols = X.shape
        angle = np.deg2rad(rng.uniform(*self.rotation, size=n))[:, None, None]
        zoom = rng.uniform(*self.scale, size=n)[:, None, None]
        shift_y = rng.uniform(*self.shift, size=n)[:, None, None]
        shift_x = rng.uniform(*self.shift, size=n)[:, None, None]
        centre_y, centre_x = (rows - 1) / 2, (cols - 1) / 2
        # Inverse mapping: for every output pixel, where in the input it comes from.
        dy = np.arange(rows)[None, :, None] - centre_y - shift_y
        dx = np.arange(cols)[None, None, :] - centre_x - shift_x
        cos, sin = np.cos(angle), np.sin(angle)
        src_y = (cos * dy - sin * dx) / zoom + centre_y
        src_x = (sin * dy + cos * dx) / zoom + centre_x
        y0, x0 = np.floor(src_y).astype(np.intp), np.floor(src_x).astype(np.intp)
        wy, wx = src_y - y0, src_x - x0
        dtype = _float_dtype(X)
        # Pixels as rows of (batch, rows * cols, channels): each corner is one gather along axis 1.
        pixels = X.transpose(0, 2, 3, 1).reshape(n, rows * cols, channels).astype(dtype, copy=False)
        out = np.zeros((n, rows * cols, channels), dtype=dtype)
        outside_weight = np.zeros((n, rows, cols), dtype=dtype)
        corners = ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx))
        for oy, ox, weight in corners:
            yy, xx = y0 + oy, x0 + ox
            inside = (yy >= 0) & (yy < rows) & (xx >= 0) & (xx < cols)
            flat = (np.clip(yy, 0, rows - 1) * cols + np.clip(xx, 0, cols - 1)).reshape(n, -1, 1)
            weight = weight.astype(dtype)
            outside_weight += np.where(inside, 0, weight)
            out += np.where(inside, weight, 0).reshape(n, -1, 1) * np.take_along_axis(pixels, flat, axis=1)
        if self.fill:
            out += (self.fill * outside_weight).reshape(n, -1, 1)
        return np.ascontiguousarray(out.reshape(n, rows, cols, channels).transpose(0, 3, 1, 2))


class RandomRotation(RandomAffine):
    """Rotate each image about its centre by an angle drawn from ``[-degrees, degrees]`` (or
    the given range). A few degrees suit handwriting; digits turned further become others."""

    def __init__(self, degrees: Any, fill: float = 0.0):
        super().__init__(rotation=degrees, fill=fill)


class RandomScale(RandomAffine):
    """Zoom each image about its centre by a factor drawn from ``[1 - s, 1 + s]`` (or the
    given range): objects seen from nearer or further."""

    def __init__(self, scale: Any, fill: float = 0.0):
        super().__init__(scale=scale, fill=fill)


class BrightnessContrast(Transform):
    """Jitter each image's brightness and contrast: ``x + c * (x - mean(x)) + b`` with ``c``
    drawn from ``[-contrast, contrast]`` and ``b`` from ``[-brightness, brightness]`` (in the
    data's units), per image, the same for all its channels.

    >>> import numpy as np
    >>> from symdl.data import BrightnessContrast
    >>> X = np.linspace(0, 1, 8, dtype='float32').reshape(2, 1, 2, 2)
    >>> bool(np.array_equal(BrightnessContrast()(X), X))       # zero strength: unchanged
    True
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0):
        if brightness < 0 or contrast < 0:
            raise ValueError(f"BrightnessContrast: strengths must be >= 0, got {brightness}, {contrast}")
        self.brightness = brightness
        self.contrast = contrast

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        dtype = _float_dtype(X)
        n = len(X)
        offset = rng.uniform(-self.brightness, self.brightness, size=(n, 1, 1, 1)).astype(dtype)
        factor = rng.uniform(-self.contrast, self.contrast, size=(n, 1, 1, 1)).astype(dtype)
        X = X.astype(dtype, copy=False)
        return X + factor * (X - X.mean(axis=(1, 2, 3), keepdims=True, dtype=dtype)) + offset


class Normalize(Transform):
    """Per-channel standardisation ``(x - mean) / std``: not random, but part of the pipeline.
    Take the statistics from the training set only (:meth:`fit`) and use them for every split.

    >>> import numpy as np
    >>> from symdl.data import Normalize
    >>> X = np.random.default_rng(0).normal(5, 3, (100, 2, 4, 4))
    >>> norm = Normalize.fit(X)
    >>> out = norm(X)
    >>> out.mean(axis=(0, 2, 3)).round(6).tolist(), out.std(axis=(0, 2, 3)).round(6).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """

    def __init__(self, mean: Any, std: Any):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: {self.mean.size} means but {self.std.size} standard deviations")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: standard deviations must be positive, got {self.std.tolist()}")

    @classmethod
    def fit(cls, X: np.ndarray) -> Normalize:
        """The per-channel mean and standard deviation of ``X`` (``(N, C, rows, cols)``)."""
        X = np.asarray(X, dtype=np.float64)
        std = X.std(axis=(0, 2, 3))
        return cls(X.mean(axis=(0, 2, 3)), np.where(std > 0, std, 1.0))

    def apply(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if X.shape[1] != self.mean.size and self.mean.size != 1:
            raise ValueError(f"Normalize: statistics of {self.mean.size} channels, images of {X.shape[1]}")
        dtype = _float_dtype(X)
        mean = self.mean.astype(dtype)[None, :, None, None]
        std = self.std.astype(dtype)[None, :, None, None]
        return (X.astype(dtype, copy=False) - mean) / std
