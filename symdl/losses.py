"""``symdl.losses`` is ``symdl.objectives`` (Lasagne's newer name for the same functions)."""

import sys

from symdl import objectives

sys.modules[__name__] = objectives
