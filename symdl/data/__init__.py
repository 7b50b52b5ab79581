"""The input pipeline: minibatches, augmentation and a background loader.

>>> import numpy as np
>>> from symdl.data import BackgroundLoader, Compose, RandomShift, RandomRotation
>>> X, y = np.random.default_rng(0).random((100, 1, 8, 8)).astype('float32'), np.arange(100) % 10
>>> loader = BackgroundLoader(X, y, batch_size=32, transform=Compose([RandomShift(1), RandomRotation(10)]))
>>> for X_batch, y_batch in loader:        # one epoch; a training step would go here
...     pass
>>> X_batch.shape
(4, 1, 8, 8)

See docs/transfer.md for which augmentations suit which data.
"""

from symdl.data.augment import (
    BrightnessContrast,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomRotation,
    RandomScale,
    RandomShift,
    Transform,
    VerticalFlip,
)
from symdl.data.loader import BackgroundLoader
from symdl.data.minibatches import as_generator, iterate_minibatches

__all__ = [
    "BackgroundLoader",
    "BrightnessContrast",
    "Compose",
    "HorizontalFlip",
    "Normalize",
    "RandomAffine",
    "RandomCrop",
    "RandomRotation",
    "RandomScale",
    "RandomShift",
    "Transform",
    "VerticalFlip",
    "as_generator",
    "iterate_minibatches",
]
