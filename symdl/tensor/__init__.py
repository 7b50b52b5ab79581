"""symdl.tensor: symbolic tensors and the NumPy-semantics op set (``import symdl.tensor as T``).

>>> import symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> f = symdl.function([x], T.sum(x ** 2))
>>> float(f([1.0, 2.0]))
5.0
"""

from symdl.graph.basic import Variable
from symdl.tensor.basic import *  # noqa: F403
from symdl.tensor.basic import tensor
from symdl.tensor.blas import batched_dot, dot, matmul, outer, tensordot
from symdl.tensor.creation import (
    alloc,
    arange,
    eye,
    full,
    full_like,
    identity_like,
    one_hot,
    ones,
    ones_like,
    to_one_hot,
    zeros,
    zeros_like,
)
from symdl.tensor.elemwise import (
    abs,
    abs_,
    add,
    and_,
    arccos,
    arcsin,
    arctan,
    arctan2,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    cast,
    ceil,
    clip,
    cos,
    cosh,
    divide,
    eq,
    erf,
    erfc,
    exp,
    exp2,
    expm1,
    floor,
    floor_div,
    ge,
    gt,
    identity,
    int_div,
    invert,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mod,
    mul,
    neg,
    neq,
    or_,
    pow,
    power,
    reciprocal,
    round,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqr,
    sqrt,
    sub,
    switch,
    tan,
    tanh,
    true_div,
    true_divide,
    trunc,
    where,
    xor,
)
from symdl.tensor.extra_ops import (
    bincount,
    compress,
    cumprod,
    cumsum,
    diff,
    fill_diagonal,
    fill_diagonal_offset,
    ravel_multi_index,
    searchsorted,
    unique,
    unravel_index,
)
from symdl.tensor.nlinalg import diag, tril, triu
from symdl.tensor.reduction import (
    all,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from symdl.tensor.shape import (
    broadcast_to,
    concatenate,
    dimshuffle,
    expand_dims,
    flatten,
    join,
    repeat,
    reshape,
    shape,
    size,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
)
from symdl.tensor.subtensor import inc_subtensor, set_subtensor, take
from symdl.tensor.type import TensorType
from symdl.tensor.var import TensorConstant, TensorVariable, as_tensor_variable, constant

as_tensor = as_tensor_variable
concat = concatenate

# Theano's names for Lasagne ports (``theano.tensor.Variable`` in isinstance checks).


def __getattr__(name: str):
    # Submodules that pull in more code load on first use, so ``import symdl`` stays fast.
    if name in ("nnet", "random", "signal", "nlinalg", "slinalg", "linalg", "extra_ops"):
        import importlib

        return importlib.import_module(f"symdl.tensor.{name}")
    if name in ("grad", "jacobian", "hessian", "Lop", "Rop"):
        # Theano's T.grad and friends (symdl.gradient imports this package, hence the late import).
        from symdl import gradient

        return getattr(gradient, name)
    raise AttributeError(f"module 'symdl.tensor' has no attribute {name!r}")


__all__ = [name for name in dir() if not name.startswith("_")]
