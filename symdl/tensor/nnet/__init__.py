"""Neural-network ops (``symdl.tensor.nnet``, loaded lazily as ``T.nnet``).

Activations (compositions of elementwise ops, so fusion and every backend get them free):
``sigmoid``, ``softplus`` (scalar ops of ``symdl.tensor.elemwise``), ``relu`` (``maximum(0, x)``:
gradient 0 at 0), ``leaky_relu``, ``elu``, ``selu``, ``softsign``, ``hard_sigmoid``.

Softmax family and losses; the op classes, for rewrites that look for them:

- ``Softmax(axis)``: one input ``x``, one output of ``x``'s type; ``node.op.axis`` is a
  non-negative int. ``softmax(x, axis=-1)`` builds it.
- ``LogSoftmax(axis)``: same layout; ``log_softmax(x, axis=-1)`` builds it. The stabilize rewrite
  may replace ``log(Softmax(axis)(x))`` by ``LogSoftmax(axis)(x)``.
- ``CategoricalCrossentropy()``: inputs ``(pred, target)`` where ``target`` is integer labels with
  one dimension less than ``pred`` or a float probability tensor of ``pred``'s shape; the class
  axis is the last; the output drops it. ``categorical_crossentropy(pred, target)`` builds it.
- ``SoftmaxCrossentropyWithLogits()``: inputs ``(logits, target)`` with the same conventions,
  equal in value to ``CategoricalCrossentropy()(Softmax(ndim - 1)(logits), target)`` but stable,
  with the gradient ``softmax(logits) - onehot(target)`` (times the output gradient). The rewrite
  ``CategoricalCrossentropy()(Softmax(axis=last)(x), y) -> SoftmaxCrossentropyWithLogits()(x, y)``
  is valid exactly when the Softmax's axis is ``x.ndim - 1``. ``categorical_crossentropy`` builds
  the fused op itself when its ``pred`` is such a softmax, and ``softmax_crossentropy_with_logits``
  exposes it directly.

``binary_crossentropy(output, target)`` and ``sigmoid_binary_crossentropy(logits, targets)`` are
compositions (the first builds the second when ``output`` is ``sigmoid(logits)``).

Local response normalization: ``local_response_normalization`` (op ``WindowSum``, a moving sum
along the channels). Spatial transformers: ``bilinear_sample`` and ``affine_grid`` (ops
``BatchGather``, ``BatchScatterAdd``).

Convolution and pooling: ``conv2d`` and ``conv1d`` (ops ``Conv2d``, ``Conv2dGradInputs``, ``Conv2dGradWeights``),
``conv3d`` (ops ``Conv3d``, ``Conv3dGradInputs``, ``Conv3dGradWeights``), ``pool_2d`` (ops ``Pool2d``,
``Pool2dGrad``; ``Pool`` when the window is symbolic) and ``pool_3d`` (ops ``Pool``, ``PoolGrad``);
batch normalization: ``batch_normalization_train``,
``batch_normalization_test``; ``dropout`` draws its mask from a ``symdl.tensor.random.RandomStream``.

Every op runs everywhere through its NumPy ``perform``; the C backend runs the softmax family in
its runtime, conv2d and conv3d (forward and both gradients) and pooling with the kernels of
``kernels/c/conv.h``, ``conv3d.h``, ``pool.h`` and ``pool_nd.h`` (im2col + BLAS, OpenMP over the
batch), and local response normalization's window sum and the spatial transformer's lookups
with those of ``kernels/c/runtime_along_axis.h`` (see ``symdl.tensor.nnet.compiled``).

>>> import numpy as np, symdl, symdl.tensor as T
>>> x, y = T.dmatrix('x'), T.ivector('y')
>>> ce = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)
>>> type(ce.owner.op).__name__
'SoftmaxCrossentropyWithLogits'
>>> g = symdl.grad(ce.mean(), x)
>>> symdl.function([x, y], g)(np.array([[1e4, 0.0]]), np.array([1], 'int32'))
array([[ 1., -1.]])
"""

from symdl.tensor.nnet.basic import (
    SELU_ALPHA,
    SELU_SCALE,
    CategoricalCrossentropy,
    LogSoftmax,
    Softmax,
    SoftmaxCrossentropyWithLogits,
    binary_crossentropy,
    categorical_accuracy,
    categorical_crossentropy,
    elu,
    hard_sigmoid,
    leaky_relu,
    log_softmax,
    logsoftmax,
    relu,
    selu,
    sigmoid,
    sigmoid_binary_crossentropy,
    softmax,
    softmax_crossentropy_with_logits,
    softplus,
    softsign,
    xlogy,
)
from symdl.tensor.nnet.bn import batch_normalization, batch_normalization_test, batch_normalization_train
from symdl.tensor.nnet.conv import (
    Conv2d,
    Conv2dGradInputs,
    Conv2dGradWeights,
    conv1d,
    conv2d,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
)
from symdl.tensor.nnet.conv_nd import (
    Conv3d,
    Conv3dGradInputs,
    Conv3dGradWeights,
    conv3d,
    conv3d_grad_wrt_inputs,
    conv3d_grad_wrt_weights,
)
from symdl.tensor.nnet.lrn import WindowSum, local_response_normalization, window_sum
from symdl.tensor.nnet.pool import Pool2d, Pool2dGrad, pool_2d
from symdl.tensor.nnet.pool_nd import Pool, PoolGrad, pool_3d
from symdl.tensor.nnet.sampling import BatchGather, BatchScatterAdd, affine_grid, batch_gather, bilinear_sample
from symdl.tensor.random import dropout

__all__ = [
    "BatchGather",
    "BatchScatterAdd",
    "Conv2d",
    "Conv2dGradInputs",
    "Conv2dGradWeights",
    "Conv3d",
    "Conv3dGradInputs",
    "Conv3dGradWeights",
    "Pool",
    "Pool2d",
    "Pool2dGrad",
    "PoolGrad",
    "WindowSum",
    "SELU_ALPHA",
    "SELU_SCALE",
    "CategoricalCrossentropy",
    "LogSoftmax",
    "Softmax",
    "SoftmaxCrossentropyWithLogits",
    "affine_grid",
    "batch_gather",
    "batch_normalization",
    "batch_normalization_test",
    "batch_normalization_train",
    "bilinear_sample",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "conv1d",
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv3d",
    "conv3d_grad_wrt_inputs",
    "conv3d_grad_wrt_weights",
    "dropout",
    "elu",
    "hard_sigmoid",
    "leaky_relu",
    "local_response_normalization",
    "log_softmax",
    "logsoftmax",
    "pool_2d",
    "pool_3d",
    "relu",
    "selu",
    "sigmoid",
    "sigmoid_binary_crossentropy",
    "softmax",
    "softmax_crossentropy_with_logits",
    "softplus",
    "softsign",
    "window_sum",
    "xlogy",
]

# the C and CUDA implementations register themselves on the op classes
from symdl.tensor.nnet import compiled as _compiled  # noqa: E402, F401
