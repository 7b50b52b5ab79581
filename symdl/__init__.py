"""symdl: a Theano-style symbolic expression compiler for deep learning.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> f = symdl.function([x], symdl.grad(T.sum(T.exp(x)), x))
>>> f(np.zeros(2))
array([1., 1.])
"""

from symdl import backend
from symdl.compile.builders import OpFromGraph
from symdl.compile.function import Function, In, Out, function
from symdl.config import config
from symdl.gradient import (
    Lop,
    Rop,
    disconnected_grad,
    grad,
    grad_clip,
    hessian,
    jacobian,
    zero_grad,
)
from symdl.graph.basic import Variable
from symdl.sharedvar import SharedVariable, shared

__version__ = "0.1.0"

__all__ = [
    "Function",
    "In",
    "Lop",
    "OpFromGraph",
    "Out",
    "Rop",
    "SharedVariable",
    "Variable",
    "backend",
    "config",
    "disconnected_grad",
    "function",
    "grad",
    "grad_clip",
    "hessian",
    "jacobian",
    "shared",
    "zero_grad",
]


def __getattr__(name: str):
    # Heavier parts load on first use so that ``import symdl`` stays fast.
    import importlib

    if name in ("scan", "map", "reduce", "foldl", "foldr", "until"):
        from symdl import scan_module

        value = getattr(scan_module, name)
        globals()[name] = value
        return value
    if name in ("tensor", "printing", "testing", "layers", "init", "nonlinearities", "objectives", "losses",
                "updates", "regularization", "datasets", "gradient", "rewrite", "graph", "utils", "random", "scan_module",
                "ifelse", "models", "data", "distributed", "sparse"):  # fmt: skip
        module = importlib.import_module(f"symdl.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'symdl' has no attribute {name!r}")
