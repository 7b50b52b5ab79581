"""Every nnet op's ``infer_shape``, evaluated on symbolic input shapes, equals the shape of what
its ``perform`` returns; and the static shape in its type agrees when input shapes are static."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.tensor import nnet
from symdl.tensor.nnet.conv import Conv2dGradInputs, Conv2dGradWeights
from symdl.tensor.nnet.conv_nd import Conv3dGradInputs, Conv3dGradWeights
from symdl.tensor.nnet.pool import Pool2dGrad
from symdl.tensor.nnet.pool_nd import MaxPoolGradGrad, Pool, PoolGrad
from symdl.tensor.random import RandomStream
from symdl.tensor.shape import shape_i
from symdl.testing import symbolic_inputs_like

HW = T.constant(np.array([7, 6], dtype="int64"))
KHW = T.constant(np.array([3, 2], dtype="int64"))
DHW = T.constant(np.array([5, 7, 6], dtype="int64"))
KDHW = T.constant(np.array([2, 3, 2], dtype="int64"))

# (name, build from symbolic inputs, input values)
CASES = [
    ("softmax", lambda x: nnet.softmax(x, 0), [np.zeros((3, 4))]),
    ("log_softmax", nnet.log_softmax, [np.zeros((2, 3, 4))]),
    ("crossentropy", nnet.categorical_crossentropy, [np.full((3, 4), 0.25), np.array([0, 1, 2])]),
    ("fused_crossentropy", nnet.softmax_crossentropy_with_logits, [np.zeros((2, 3, 4)), np.full((2, 3, 4), 0.25)]),
    (
        "conv2d",
        lambda x, w: nnet.conv2d(x, w, border_mode=(1, 2), subsample=2),
        [np.zeros((2, 4, 7, 6)), np.zeros((5, 4, 3, 2))],
    ),
    (
        "conv2d_groups",
        lambda x, w: nnet.conv2d(x, w, border_mode="same", num_groups=2, filter_dilation=2),
        [np.zeros((1, 4, 9, 8)), np.zeros((6, 2, 2, 3))],
    ),
    (
        "conv2d_grad_inputs",
        lambda w, g: Conv2dGradInputs(subsample=2, num_groups=2)(w, g, HW),
        [np.zeros((4, 3, 3, 2)), np.zeros((2, 4, 3, 3))],
    ),
    (
        "conv2d_grad_weights",
        lambda x, g: Conv2dGradWeights(subsample=2, num_groups=2)(x, g, KHW),
        [np.zeros((2, 6, 7, 6)), np.zeros((2, 4, 3, 3))],
    ),
    ("pool_2d", lambda x: nnet.pool_2d(x, (3, 2), ignore_border=False, stride=(2, 1)), [np.zeros((2, 3, 7, 5))]),
    (
        "pool_2d_pad",
        lambda x: nnet.pool_2d(x, (3, 3), stride=(2, 2), pad=(1, 1), mode="average_exc_pad"),
        [np.zeros((6, 7))],
    ),
    ("pool_2d_grad", lambda x, g: Pool2dGrad((2, 2))(x, g), [np.zeros((2, 5, 4)), np.zeros((2, 2, 2))]),
    (
        "conv3d",
        lambda x, w: nnet.conv3d(x, w, border_mode=(1, 0, 2), subsample=(2, 1, 2)),
        [np.zeros((2, 4, 5, 7, 6)), np.zeros((3, 4, 3, 2, 2))],
    ),
    (
        "conv3d_groups",
        lambda x, w: nnet.conv3d(x, w, border_mode="same", num_groups=2, filter_dilation=(1, 2, 1)),
        [np.zeros((1, 4, 5, 6, 5)), np.zeros((6, 2, 2, 3, 2))],
    ),
    (
        "conv3d_grad_inputs",
        lambda w, g: Conv3dGradInputs(subsample=2, num_groups=2)(w, g, DHW),
        [np.zeros((4, 3, 3, 3, 2)), np.zeros((2, 4, 2, 3, 3))],
    ),
    (
        "conv3d_grad_inputs_symbolic_size",
        lambda w, g, size: Conv3dGradInputs(subsample=2)(w, g, size),
        [np.zeros((4, 3, 3, 3, 2)), np.zeros((2, 4, 2, 3, 3)), np.array([5, 7, 6])],
    ),
    (
        "conv3d_grad_weights",
        lambda x, g: Conv3dGradWeights(subsample=2, num_groups=2)(x, g, KDHW),
        [np.zeros((2, 6, 5, 7, 6)), np.zeros((2, 4, 2, 3, 3))],
    ),
    ("pool_3d", lambda x: nnet.pool_3d(x, (3, 2, 2), ignore_border=False, stride=(2, 1, 3)), [np.zeros((2, 7, 5, 8))]),
    (
        "pool_symbolic_window",
        lambda x, ws, st: Pool(2, ignore_border=False, mode="average_exc_pad")(x, ws, st),
        [np.zeros((2, 3, 7, 5)), np.array([3, 2]), np.array([2, 3])],
    ),
    (
        "pool_symbolic_window_ignore_border",
        lambda x, ws: Pool(2)(x, ws, None, (1, 0)),
        [np.zeros((2, 3, 7, 5)), np.array([3, 2])],
    ),
    (
        "pool_grad_3d",
        lambda x, g: PoolGrad(3)(x, g, (2, 2, 2)),
        [np.zeros((2, 4, 5, 4)), np.zeros((2, 2, 2, 2))],
    ),
    (
        "max_pool_grad_grad_3d",
        lambda x, g: MaxPoolGradGrad(3, False)(x, g, (2, 2, 3)),
        [np.zeros((2, 5, 5, 4)), np.zeros((2, 5, 5, 4))],
    ),
    ("uniform", lambda x: RandomStream(0).uniform(x.shape), [np.zeros((3, 2))]),
    ("permutation", lambda n: RandomStream(0).permutation(n), [np.array(5)]),
]


@pytest.mark.parametrize("name,build,values", CASES, ids=[c[0] for c in CASES])
def test_infer_shape_matches_the_computed_shape(name, build, values):
    values = [np.asarray(v) for v in values]
    inputs = symbolic_inputs_like(values)
    out = build(*inputs)
    node = out.owner
    shapes = [[shape_i(v, k) for k in range(v.ndim)] for v in node.inputs]
    inferred = [T.as_tensor_variable(d) for d in node.op.infer_shape(node, shapes)[out.index]]
    f = symdl.function(inputs, [out, *inferred], mode="py", on_unused_input="ignore")
    value, *dims = f(*values)
    assert tuple(int(d) for d in dims) == value.shape
    static = build(*symbolic_inputs_like(values, static=True))
    assert all(s is None or s == d for s, d in zip(static.type.shape, value.shape)), (static.type, value.shape)
