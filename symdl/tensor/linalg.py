"""All of symdl's linear algebra in one namespace: ``symdl.tensor.nlinalg`` (what NumPy
provides) and ``symdl.tensor.slinalg`` (what SciPy provides), as PyTensor's ``tensor.linalg``.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor import linalg
>>> x = T.dmatrix('x')
>>> float(linalg.det(linalg.cholesky(x)).eval({x: np.array([[4.0, 0.0], [0.0, 9.0]])}))
6.0
"""

from symdl.tensor.nlinalg import *  # noqa: F403
from symdl.tensor.nlinalg import __all__ as _nlinalg_names
from symdl.tensor.slinalg import *  # noqa: F403
from symdl.tensor.slinalg import __all__ as _slinalg_names

__all__ = sorted(set(_nlinalg_names) | set(_slinalg_names))
