"""Gradient-descent update rules with Lasagne's names and signatures.

Each rule takes a loss (or a list of gradients), the parameters and its hyperparameters, and
returns an ``OrderedDict`` mapping every shared variable (the parameters and the rule's own
state: velocities, accumulators, step counters) to its new value, ready for
``symdl.function(..., updates=...)``. Hyperparameters may be Python numbers or shared
variables: a shared learning rate can be changed between calls (schedules). Python numbers
are weak in symdl, so float32 parameters stay float32.

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl import updates
>>> w = symdl.shared(np.array([1.0, -2.0], 'float32'), name='w')
>>> lr = symdl.shared(0.1, name='lr')             # a float32 scalar: schedulable
>>> step = symdl.function([], updates=updates.sgd((w ** 2).sum(), [w], lr))
>>> _ = step(); w.get_value()
array([ 0.8, -1.6], dtype=float32)
>>> lr.set_value(np.float32(0.5)); _ = step(); w.get_value()
array([0., 0.], dtype=float32)
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

import symdl.tensor as T
from symdl.config import config
from symdl.gradient import grad
from symdl.sharedvar import SharedVariable, shared
from symdl.utils import norm_axes_for

__all__ = [
    "get_or_compute_grads",
    "sgd",
    "apply_momentum",
    "momentum",
    "apply_nesterov_momentum",
    "nesterov_momentum",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "amsgrad",
    "norm_constraint",
    "total_norm_constraint",
]


def get_or_compute_grads(loss_or_grads: Any, params: Sequence[Any]) -> list[Any]:
    """``loss_or_grads`` itself when it is a list of gradients, else the gradients of the loss.

    An integer-valued loss is piecewise constant: its gradients are zeros (as Theano's), with a
    warning, since a loss that counts (an ``argmax`` compared with labels) cannot be trained.
    """
    params = list(params)
    bad = [p for p in params if not isinstance(p, SharedVariable)]
    if bad:
        raise ValueError(
            f"params must be shared variables (as get_all_params returns), got {bad[0]!r}; "
            "an update rule can only change shared variables (symdl.utils.collect_shared_vars "
            "finds those in an expression)"
        )
    if isinstance(loss_or_grads, list | tuple):
        if len(loss_or_grads) != len(params):
            raise ValueError(f"got {len(loss_or_grads)} gradients for {len(params)} parameters")
        return loss_or_grads if isinstance(loss_or_grads, list) else list(loss_or_grads)
    loss = T.as_tensor_variable(loss_or_grads)
    if loss.type.is_discrete:
        warnings.warn(
            f"the loss is {loss.dtype}: an integer-valued loss is piecewise constant, so its gradients are zero",
            stacklevel=3,
        )
        return [T.zeros_like(p) for p in params]
    return grad(loss, params)


def _weak(value: Any) -> Any:
    """A NumPy scalar hyperparameter as a Python number, so it cannot upcast float32 parameters."""
    if isinstance(value, np.generic | np.ndarray) and np.ndim(value) == 0:
        return value.item()
    return value


def _zeros_like(param: SharedVariable, name: str) -> SharedVariable:
    """A new state variable shaped like ``param``, named after it for debugprint."""
    value = param.get_value(borrow=True)
    return shared(np.zeros(value.shape, dtype=value.dtype), name=f"{param.name or 'param'}.{name}")


def _counter() -> SharedVariable:
    return shared(np.zeros((), dtype=config.floatX), name="t")


def sgd(loss_or_grads: Any, params: Sequence[Any], learning_rate: Any) -> OrderedDict:
    """Stochastic gradient descent: ``param - learning_rate * grad``."""
    learning_rate = _weak(learning_rate)
    grads = get_or_compute_grads(loss_or_grads, params)
    updates: OrderedDict = OrderedDict()
    for param, g in zip(params, grads):
        updates[param] = param - learning_rate * g
    return updates


def apply_momentum(updates: Any, params: Sequence[Any] | None = None, momentum: Any = 0.9) -> OrderedDict:
    """Add classical momentum to existing updates: ``v = momentum * v + (update - param)``,
    ``param = param + v``. Only ``params`` (default: every key of ``updates``) get momentum."""
    momentum = _weak(momentum)
    updates = OrderedDict(updates)
    for param in list(updates) if params is None else params:
        velocity = _zeros_like(param, "velocity")
        x = momentum * velocity + updates[param]
        updates[velocity] = x - param
        updates[param] = x
    return updates


def momentum(loss_or_grads: Any, params: Sequence[Any], learning_rate: Any, momentum: Any = 0.9) -> OrderedDict:
    """SGD with classical momentum: ``v = momentum * v - learning_rate * grad``; ``param += v``."""
    return apply_momentum(sgd(loss_or_grads, params, learning_rate), momentum=momentum)


def apply_nesterov_momentum(updates: Any, params: Sequence[Any] | None = None, momentum: Any = 0.9) -> OrderedDict:
    """Add Nesterov momentum to existing updates: ``v = momentum * v + (update - param)``,
    ``param = param + momentum * v + (update - param)`` (the reformulation of Bengio et al.)."""
    momentum = _weak(momentum)
    updates = OrderedDict(updates)
    for param in list(updates) if params is None else params:
        velocity = _zeros_like(param, "velocity")
        x = momentum * velocity + updates[param] - param
        updates[velocity] = x
        updates[param] = momentum * x + updates[param]
    return updates


def nesterov_momentum(
    loss_or_grads: Any, params: Sequence[Any], learning_rate: Any, momentum: Any = 0.9
) -> OrderedDict:
    """SGD with Nesterov momentum (the update rule of Lasagne's MNIST example)."""
    return apply_nesterov_momentum(sgd(loss_or_grads, params, learning_rate), momentum=momentum)


def adagrad(loss_or_grads: Any, params: Sequence[Any], learning_rate: Any = 1.0, epsilon: float = 1e-6) -> OrderedDict:
    """Adagrad: ``acc += grad ** 2``; ``param -= learning_rate * grad / sqrt(acc + epsilon)``."""
    learning_rate = _weak(learning_rate)
    grads = get_or_compute_grads(loss_or_grads, params)
    updates: OrderedDict = OrderedDict()
    for param, g in zip(params, grads):
        accu = _zeros_like(param, "accu")
        accu_new = accu + g**2
        updates[accu] = accu_new
        updates[param] = param - learning_rate * g / T.sqrt(accu_new + epsilon)
    return updates


def rmsprop(
    loss_or_grads: Any, params: Sequence[Any], learning_rate: Any = 1.0, rho: Any = 0.9, epsilon: float = 1e-6
) -> OrderedDict:
    """RMSProp: ``acc = rho * acc + (1 - rho) * grad ** 2``; ``param -= lr * grad / sqrt(acc + eps)``."""
    learning_rate, rho = _weak(learning_rate), _weak(rho)
    grads = get_or_compute_grads(loss_or_grads, params)
    updates: OrderedDict = OrderedDict()
    for param, g in zip(params, grads):
        accu = _zeros_like(param, "accu")
        accu_new = rho * accu + (1 - rho) * g**2
        updates[accu] = accu_new
        updates[param] = param - learning_rate * g / T.sqrt(accu_new + epsilon)
    return updates


def adadelta(
    loss_or_grads: Any, params: Sequence[Any], learning_rate: Any = 1.0, rho: Any = 0.95, epsilon: float = 1e-6
) -> OrderedDict:
    """Adadelta (Zeiler, 2012): steps scaled by the ratio of running RMS of steps and gradients."""
    learning_rate, rho = _weak(learning_rate), _weak(rho)
    grads = get_or_compute_grads(loss_or_grads, params)
    updates: OrderedDict = OrderedDict()
    for param, g in zip(params, grads):
        accu = _zeros_like(param, "accu")
        delta_accu = _zeros_like(param, "delta_accu")
        accu_new = rho * accu + (1 - rho) * g**2
        updates[accu] = accu_new
        update = g * T.sqrt(delta_accu + epsilon) / T.sqrt(accu_new + epsilon)
        updates[param] = param - learning_rate * update
        updates[delta_accu] = rho * delta_accu + (1 - rho) * update**2
    return updates


def adam(
    loss_or_grads: Any,
    params: Sequence[Any],
    learning_rate: Any = 0.001,
    beta1: Any = 0.9,
    beta2: Any = 0.999,
    epsilon: float = 1e-8,
) -> OrderedDict:
    """Adam (Kingma and Ba, 2014) with bias correction folded into the step size."""
    learning_rate, beta1, beta2 = _weak(learning_rate), _weak(beta1), _weak(beta2)
    grads = get_or_compute_grads(loss_or_grads, params)
    t_prev = _counter()
    updates: OrderedDict = OrderedDict()
    t = t_prev + 1
    a_t = learning_rate * T.sqrt(1 - beta2**t) / (1 - beta1**t)
    for param, g in zip(params, grads):
        m_prev = _zeros_like(param, "m")
        v_prev = _zeros_like(param, "v")
        m_t = beta1 * m_prev + (1 - beta1) * g
        v_t = beta2 * v_prev + (1 - beta2) * g**2
        updates[m_prev] = m_t
        updates[v_prev] = v_t
        updates[param] = param - a_t * m_t / (T.sqrt(v_t) + epsilon)
    updates[t_prev] = t
    return updates


def adamax(
    loss_or_grads: Any,
    params: Sequence[Any],
    learning_rate: Any = 0.002,
    beta1: Any = 0.9,
    beta2: Any = 0.999,
    epsilon: float = 1e-8,
) -> OrderedDict:
    """Adamax: Adam with the infinity norm, ``u = max(beta2 * u, |grad|)``."""
    learning_rate, beta1, beta2 = _weak(learning_rate), _weak(beta1), _weak(beta2)
    grads = get_or_compute_grads(loss_or_grads, params)
    t_prev = _counter()
    updates: OrderedDict = OrderedDict()
    t = t_prev + 1
    a_t = learning_rate / (1 - beta1**t)
    for param, g in zip(params, grads):
        m_prev = _zeros_like(param, "m")
        u_prev = _zeros_like(param, "u")
        m_t = beta1 * m_prev + (1 - beta1) * g
        u_t = T.maximum(beta2 * u_prev, abs(g))
        updates[m_prev] = m_t
        updates[u_prev] = u_t
        updates[param] = param - a_t * m_t / (u_t + epsilon)
    updates[t_prev] = t
    return updates


def amsgrad(
    loss_or_grads: Any,
    params: Sequence[Any],
    learning_rate: Any = 0.001,
    beta1: Any = 0.9,
    beta2: Any = 0.999,
    epsilon: float = 1e-8,
) -> OrderedDict:
    """AMSGrad (Reddi et al., 2018): Adam whose second-moment estimate never decreases."""
    learning_rate, beta1, beta2 = _weak(learning_rate), _weak(beta1), _weak(beta2)
    grads = get_or_compute_grads(loss_or_grads, params)
    t_prev = _counter()
    updates: OrderedDict = OrderedDict()
    t = t_prev + 1
    a_t = learning_rate * T.sqrt(1 - beta2**t) / (1 - beta1**t)
    for param, g in zip(params, grads):
        m_prev = _zeros_like(param, "m")
        v_prev = _zeros_like(param, "v")
        v_hat_prev = _zeros_like(param, "v_hat")
        m_t = beta1 * m_prev + (1 - beta1) * g
        v_t = beta2 * v_prev + (1 - beta2) * g**2
        v_hat_t = T.maximum(v_hat_prev, v_t)
        updates[m_prev] = m_t
        updates[v_prev] = v_t
        updates[v_hat_prev] = v_hat_t
        updates[param] = param - a_t * m_t / (T.sqrt(v_hat_t) + epsilon)
    updates[t_prev] = t
    return updates


def norm_constraint(
    tensor_var: Any, max_norm: float, norm_axes: Sequence[int] | None = None, epsilon: float = 1e-7
) -> Any:
    """Rescale ``tensor_var`` so that its norms along ``norm_axes`` are at most ``max_norm``.

    By default the norm runs over axis 0 of a 2-d weight (each unit's incoming weights) and
    over all but the first axis of 3- to 5-d weights (each filter). Apply it to an update:
    ``updates[W] = norm_constraint(updates[W], 3.0)``.
    """
    sum_over = norm_axes_for(tensor_var.ndim, norm_axes)
    norms = T.sqrt(T.sum(T.sqr(tensor_var), axis=sum_over, keepdims=True))
    target_norms = T.clip(norms, 0, _weak(max_norm))
    return tensor_var * (target_norms / (epsilon + norms))


def total_norm_constraint(
    tensor_vars: Sequence[Any], max_norm: float, epsilon: float = 1e-7, return_norm: bool = False
) -> Any:
    """Rescale a list of tensors (usually gradients) together so their joint L2 norm is at most
    ``max_norm`` (gradient clipping by global norm). With ``return_norm`` also return the norm."""
    norm = T.sqrt(sum(T.sum(t**2) for t in tensor_vars))
    target_norm = T.clip(norm, 0, float(max_norm))
    multiplier = target_norm / (epsilon + norm)
    scaled = [t * multiplier for t in tensor_vars]
    return (scaled, norm) if return_norm else scaled
