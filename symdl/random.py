"""The random generator that layers and initializers draw from (Lasagne's ``lasagne.random``).

>>> import numpy as np
>>> from symdl import random
>>> random.set_rng(np.random.RandomState(42))
>>> float(random.get_rng().uniform()) == float(np.random.RandomState(42).uniform())
True
"""

from symdl.init import get_rng, set_rng

__all__ = ["get_rng", "set_rng"]
