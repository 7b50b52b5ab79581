"""Lasagne's newer name for ``symdl.objectives``: the same functions.

>>> import symdl.losses, symdl.objectives
>>> symdl.losses.categorical_crossentropy is symdl.objectives.categorical_crossentropy
True
"""

from symdl.objectives import *  # noqa: F403
from symdl.objectives import __all__  # noqa: F401
