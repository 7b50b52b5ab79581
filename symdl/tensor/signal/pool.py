"""Theano's ``theano.tensor.signal.pool``: ``pool_2d``, ``pool_3d`` and the pooling ops, as
defined in :mod:`symdl.tensor.nnet.pool` and :mod:`symdl.tensor.nnet.pool_nd`.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor.signal.pool import pool_2d
>>> x = T.dmatrix('x')
>>> pool_2d(x, (2, 2), ignore_border=True, mode='average_inc_pad').eval({x: np.ones((4, 4))})
array([[1., 1.],
       [1., 1.]])
"""

from symdl.tensor.nnet.pool import Pool2d, Pool2dGrad, pool_2d
from symdl.tensor.nnet.pool_nd import MaxPoolGradGrad, Pool, PoolGrad, pool_3d

__all__ = ["MaxPoolGradGrad", "Pool", "Pool2d", "Pool2dGrad", "PoolGrad", "pool_2d", "pool_3d"]
