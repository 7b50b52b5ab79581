"""Loops: ``scan`` (Theano's ``theano.scan``), ``map``, ``reduce``, ``foldl``, ``foldr`` and
``until``, with gradients through them, compiled with their body.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> cumulative, _ = symdl.scan(lambda v, total: total + v, sequences=x, outputs_info=T.constant(0.0))
>>> symdl.function([x], cumulative)(np.array([1.0, 2.0, 3.0]))
array([1., 3., 6.])
"""

from symdl.scan_module import lowering as _lowering  # noqa: F401  (registers the C implementation)
from symdl.scan_module.api import foldl, foldr, map, reduce, scan, until
from symdl.scan_module.op import Scan, ScanInfo

__all__ = ["Scan", "ScanInfo", "foldl", "foldr", "map", "reduce", "scan", "until"]
