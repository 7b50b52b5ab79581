"""Recurrent layers: ``CustomRecurrentLayer``, ``RecurrentLayer``, ``LSTMLayer``, ``GRULayer``
(with ``Gate`` to set up the LSTM's and GRU's gates), Lasagne's classes with Lasagne's
parameters and parameter names.

A recurrent layer takes an input of shape ``(batch, sequence length, features...)`` and returns
its hidden state at every step, ``(batch, sequence length, units)`` (or only the last one, with
``only_return_final=True``). The loop is a ``symdl.scan`` over the time axis, so its gradient is
back-propagation through time (truncated with ``gradient_steps``, clipped with
``grad_clipping``); ``unroll_scan=True`` unrolls it into one graph instead.

Sequences of different lengths go in one batch with a mask of shape ``(batch, sequence
length)``: 1 where a sequence has a step, 0 after its end. Where the mask is 0 the state is
carried over unchanged, so the last step's state of every sequence is its state after its own
last element.

Examples
--------
Mixing recurrent and dense layers: flatten the batch and time axes, apply the dense layer to
every step, and restore them.

>>> import numpy as np, symdl
>>> from symdl import layers
>>> l_in = layers.InputLayer((None, None, 3))
>>> batch, steps, _ = l_in.input_var.shape
>>> l_lstm = layers.LSTMLayer(l_in, num_units=5)
>>> l_step = layers.DenseLayer(layers.ReshapeLayer(l_lstm, (-1, 5)), num_units=2, nonlinearity=None)
>>> l_out = layers.ReshapeLayer(l_step, (batch, steps, 2))
>>> f = symdl.function([l_in.input_var], layers.get_output(l_out))
>>> f(np.ones((4, 7, 3), 'float32')).shape
(4, 7, 2)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import symdl
import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.gradient import grad_clip
from symdl.layers import helper
from symdl.layers.base import MergeLayer, _is_layer
from symdl.layers.dense import DenseLayer
from symdl.layers.input import InputLayer
from symdl.tensor.shape import shape_tuple
from symdl.utils import inspect_kwargs, unroll_scan

__all__ = ["CustomRecurrentLayer", "RecurrentLayer", "Gate", "LSTMLayer", "GRULayer"]


class _Recurrence(MergeLayer):
    """What every recurrent layer shares: its inputs (the sequence, then the optional mask and
    layers giving the initial states), the options of the loop, and running the loop."""

    def __init__(
        self,
        incoming: Any,
        mask_input: Any,
        init_layers: dict[str, Any],
        backwards: bool,
        learn_init: bool,
        gradient_steps: int,
        grad_clipping: float,
        unroll_scan: bool,
        precompute_input: bool,
        only_return_final: bool,
        **kwargs: Any,
    ):
        incomings = [incoming]
        self.mask_incoming_index = -1
        if mask_input is not None:
            incomings.append(mask_input)
            self.mask_incoming_index = len(incomings) - 1
        # Lasagne's attributes: hid_init_incoming_index (and cell_init_incoming_index)
        for name, spec in init_layers.items():
            setattr(self, f"{name}_incoming_index", -1)
            if _is_layer(spec):
                incomings.append(spec)
                setattr(self, f"{name}_incoming_index", len(incomings) - 1)
        super().__init__(incomings, **kwargs)
        self.backwards = backwards
        self.learn_init = learn_init
        self.gradient_steps = gradient_steps
        self.grad_clipping = grad_clipping
        self.unroll_scan = unroll_scan
        self.precompute_input = precompute_input
        self.only_return_final = only_return_final
        if unroll_scan and gradient_steps != -1:
            raise ValueError(
                f"{self._label()}: gradient_steps must be -1 when unroll_scan is True (an unrolled loop "
                f"back-propagates through every step), got gradient_steps={gradient_steps}"
            )
        if unroll_scan and self.input_shapes[0][1] is None:
            raise ValueError(
                f"{self._label()}: unroll_scan=True needs the sequence length (axis 1 of the input shape) "
                f"known when the layer is built, got input shape {self.input_shapes[0]}"
            )

    def _initial_state(self, spec: Any, shape: tuple[int, ...], name: str) -> Any:
        """A layer giving the initial state is kept as is; anything else becomes a parameter of
        ``shape`` (a leading axis of 1, repeated over the batch), learned if ``learn_init``."""
        if _is_layer(spec):
            return spec
        return self.add_param(spec, shape, name=name, trainable=self.learn_init, regularizable=False)

    def _state_values(self, inputs: list[Any], num_batch: Any) -> list[Any]:
        """The initial value of each state, per batch row: from its layer, or its parameter
        repeated ``num_batch`` times."""
        values = []
        for name in self._state_names:
            index = getattr(self, f"{name}_incoming_index")
            if index > 0:
                values.append(inputs[index])
                continue
            param = getattr(self, name)
            # broadcasting against zeros repeats the row; the gradient sums over the batch
            rows = T.zeros((num_batch, *[1] * (param.ndim - 1)), dtype=param.dtype)
            values.append(rows + param)
        return values

    def _clip(self, x: Any) -> Any:
        return grad_clip(x, -self.grad_clipping, self.grad_clipping) if self.grad_clipping else x

    def _loop(
        self, step: Callable[..., Any], input: Any, mask: Any, initial: list[Any], non_sequences: list[Any]
    ) -> list[Any]:
        """Run ``step(input_t, *states, *non_sequences) -> new states`` over the first axis of
        ``input`` (time first) from ``initial``; the states at every step, in the order the loop
        visited them. Where ``mask`` (batch, time) is 0 the states are carried over."""
        n_states = len(initial)
        if mask is not None:
            mask = mask.dimshuffle(1, 0, *["x"] * (initial[0].ndim - 1))

            def body(input_t: Any, mask_t: Any, *rest: Any) -> list[Any]:
                states = rest[:n_states]
                new = _as_list(step(input_t, *rest))
                return [T.switch(mask_t, value, state) for value, state in zip(new, states)]

            sequences = [input, mask]
        else:

            def body(*args: Any) -> list[Any]:
                return _as_list(step(*args))

            sequences = [input]
        if self.unroll_scan:
            return unroll_scan(body, sequences, initial, non_sequences, self.input_shapes[0][1], self.backwards)
        outputs, _ = symdl.scan(
            body,
            sequences=sequences,
            outputs_info=initial,
            non_sequences=non_sequences,
            go_backwards=self.backwards,
            truncate_gradient=self.gradient_steps,
            name=f"{self.name or type(self).__name__}_loop",
            return_list=True,
        )
        return outputs

    def _arrange(self, states: Any) -> Any:
        """The states of the loop (time first, in the loop's order) as the layer's output."""
        if self.only_return_final:
            return states[-1]
        states = states.dimshuffle(1, 0, *range(2, states.ndim))
        return states[:, ::-1] if self.backwards else states

    def _output_shape(self, input_shape: tuple, unit_shape: tuple) -> tuple:
        if self.only_return_final:
            return (input_shape[0], *unit_shape)
        return (input_shape[0], input_shape[1], *unit_shape)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _float_dtype(*values: Any) -> str:
    """The dtype a computation mixing the floating-point ones of ``values`` produces."""
    dtypes = [v.dtype for v in values if str(v.dtype).startswith("float")]
    return str(np.result_type(*dtypes))


def _time_major(input: Any) -> Any:
    """(batch, time, ...) as (time, batch, ...): ``scan`` loops over the first axis."""
    return input.dimshuffle(1, 0, *range(2, input.ndim))


def _merge_time_and_batch(input: Any) -> Any:
    """(time, batch, ...) as (time * batch, ...), for a product over every step at once."""
    dims = shape_tuple(input)
    return T.reshape(input, (dims[0] * dims[1], *dims[2:]))


def _split_time_and_batch(flat: Any, time_major: Any) -> Any:
    """The inverse of ``_merge_time_and_batch``: (time * batch, ...) as (time, batch, ...)."""
    dims = shape_tuple(time_major)
    return T.reshape(flat, (dims[0], dims[1], *shape_tuple(flat)[1:]))


def _single_input_layer(network: Any, what: str) -> Any:
    found = [layer for layer in helper.get_all_layers(network) if isinstance(layer, InputLayer)]
    if len(found) != 1:
        raise ValueError(
            f"CustomRecurrentLayer: the {what} network must start from exactly one InputLayer, found {len(found)}"
        )
    return found[0]


def _output_kwargs(layer: Any) -> list[str]:
    """The keywords ``layer.get_output_for`` takes (as ``get_output`` finds them)."""
    try:
        found = inspect_kwargs(layer.get_output_for)
    except (TypeError, ValueError):
        found = []
    return [*found, *getattr(layer, "get_output_kwargs", ())]


def _connection_output(network: Any, input: Any, kwargs: dict[str, Any]) -> Any:
    """``network``'s output for ``input``, given every keyword of the layer's ``get_output``
    (Lasagne passes them all to both connections). A keyword that only the other connection
    takes is no mistake here: the outer ``get_output`` warns about keywords no layer takes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"get_output\(\) was called with unused kwargs")
        return helper.get_output(network, input, **kwargs)


def _compatible(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


class CustomRecurrentLayer(_Recurrence):
    """A recurrent layer whose input-to-hidden and hidden-to-hidden connections are networks of
    your own: :math:`h_t = \\sigma(f_i(x_t) + f_h(h_{t-1}))`.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, sequence length, features...)``.
    input_to_hidden : Layer
        :math:`f_i`, a network starting from one ``InputLayer`` shaped like a step of the input
        (``(None, features...)``). With ``precompute_input`` it is applied to every step at once.
    hidden_to_hidden : Layer
        :math:`f_h`, a network starting from one ``InputLayer`` shaped like the hidden state; its
        output shape is the hidden state's.
    nonlinearity : callable or None
        :math:`\\sigma`; None means linear. Default ``rectify``.
    hid_init : initializer, array, shared variable or Layer
        The initial hidden state: a parameter of shape ``(1,) + hidden shape`` (learned if
        ``learn_init``), or a layer giving one per batch row.
    backwards : bool
        Process the sequence from its end; the output is still in the input's time order.
    learn_init : bool
        Train ``hid_init`` (when it is a parameter).
    gradient_steps : int
        Back-propagate through the last this-many steps only; -1 for all of them.
    grad_clipping : float
        If nonzero, the gradient reaching the hidden pre-activation is clipped to
        ``[-grad_clipping, grad_clipping]`` at every step (Graves 2013).
    unroll_scan : bool
        Unroll the loop into one graph (the sequence length must be known).
    precompute_input : bool
        Apply ``input_to_hidden`` to every step before the loop (one large product) rather
        than in each step.
    mask_input : Layer or None
        A ``(batch, sequence length)`` mask: 1 for steps of the sequence, 0 past its end.
    only_return_final : bool
        Return only the last step's state, ``(batch,) + hidden shape``.

    Examples
    --------
    A convolutional recurrence:

    >>> from symdl import layers
    >>> l_in = layers.InputLayer((2, 3, 4, 5, 6))
    >>> in_to_hid = layers.Conv2DLayer(layers.InputLayer((None, 4, 5, 6)), 7, 3, pad='same')
    >>> hid_to_hid = layers.Conv2DLayer(layers.InputLayer((None, 7, 5, 6)), 7, 3, pad='same')
    >>> layers.CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid).output_shape
    (2, 3, 7, 5, 6)
    """

    _state_names = ("hid_init",)

    def __init__(
        self,
        incoming: Any,
        input_to_hidden: Any,
        hidden_to_hidden: Any,
        nonlinearity: Any = nonlinearities.rectify,
        hid_init: Any = init.Constant(0.0),
        backwards: bool = False,
        learn_init: bool = False,
        gradient_steps: int = -1,
        grad_clipping: float = 0,
        unroll_scan: bool = False,
        precompute_input: bool = True,
        mask_input: Any = None,
        only_return_final: bool = False,
        **kwargs: Any,
    ):
        super().__init__(incoming, mask_input, {"hid_init": hid_init}, backwards, learn_init, gradient_steps,
                         grad_clipping, unroll_scan, precompute_input, only_return_final, **kwargs)  # fmt: skip
        self.input_to_hidden = input_to_hidden
        self.hidden_to_hidden = hidden_to_hidden
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self._check_connections()
        # get_output's keywords reach the connection networks: what they take, this layer takes
        self.get_output_kwargs = sorted(
            {kw for net in (input_to_hidden, hidden_to_hidden) for lay in helper.get_all_layers(net) for kw in
             _output_kwargs(lay)}
        )  # fmt: skip
        self.hid_init = self._initial_state(hid_init, (1, *hidden_to_hidden.output_shape[1:]), "hid_init")

    def _check_connections(self) -> None:
        input_shape = self.input_shapes[0]
        in_out = tuple(self.input_to_hidden.output_shape)
        hid_out = tuple(self.hidden_to_hidden.output_shape)
        _single_input_layer(self.input_to_hidden, "input_to_hidden")
        hid_in = tuple(_single_input_layer(self.hidden_to_hidden, "hidden_to_hidden").output_shape)
        steps = None if None in input_shape[:2] else input_shape[0] * input_shape[1]
        if self.precompute_input and None not in (in_out[0], steps) and in_out[0] != steps:
            raise ValueError(
                f"CustomRecurrentLayer: with precompute_input=True, input_to_hidden is applied to all "
                f"batch * sequence length = {steps} steps at once, but its output shape is {in_out} "
                "(give its InputLayer a first dimension of None)"
            )
        if not self.precompute_input and None not in (in_out[0], hid_out[0]) and in_out[0] != hid_out[0]:
            raise ValueError(
                f"CustomRecurrentLayer: with precompute_input=False, input_to_hidden's output shape {in_out} "
                f"and hidden_to_hidden's {hid_out} must have the same first (batch) dimension"
            )
        if not _compatible(in_out[1:], hid_out[1:]):
            raise ValueError(
                f"CustomRecurrentLayer: input_to_hidden's output shape {in_out} and hidden_to_hidden's "
                f"{hid_out} must agree after the first dimension (their sum is the hidden pre-activation)"
            )
        if not _compatible(in_out[1:], hid_in[1:]):
            raise ValueError(
                f"CustomRecurrentLayer: hidden_to_hidden takes inputs of shape {hid_in}, but the hidden state "
                f"has the shape of input_to_hidden's output {in_out} after the first dimension"
            )

    def get_params(self, unwrap_shared: bool = True, **tags: bool) -> list[Any]:
        """This layer's parameters (``hid_init``) and those of its two connection networks."""
        params = super().get_params(unwrap_shared=unwrap_shared, **tags)
        params += helper.get_all_params(self.input_to_hidden, unwrap_shared=unwrap_shared, **tags)
        params += helper.get_all_params(self.hidden_to_hidden, unwrap_shared=unwrap_shared, **tags)
        return params

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:
        return self._output_shape(input_shapes[0], tuple(self.hidden_to_hidden.output_shape[1:]))

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:
        input = _time_major(inputs[0])
        mask = inputs[self.mask_incoming_index] if self.mask_incoming_index > 0 else None
        if self.precompute_input:
            flat = _connection_output(self.input_to_hidden, _merge_time_and_batch(input), kwargs)
            input = _split_time_and_batch(flat, input)

        def step(input_t: Any, hid_previous: Any) -> Any:
            hid_pre = _connection_output(self.hidden_to_hidden, hid_previous, kwargs)
            if self.precompute_input:
                hid_pre = hid_pre + input_t
            else:
                hid_pre = hid_pre + _connection_output(self.input_to_hidden, input_t, kwargs)
            return self.nonlinearity(self._clip(hid_pre))

        (hid_init,) = self._state_values(inputs, shape_tuple(input)[1])
        params = self.get_params()
        if not self.precompute_input:
            params.append(input)
        dtype = _float_dtype(input, hid_init, *params)
        hid_init = T.cast(hid_init, dtype) if hid_init.dtype != dtype else hid_init
        (hid_out,) = self._loop(step, input, mask, [hid_init], [])
        return self._arrange(hid_out)


class RecurrentLayer(CustomRecurrentLayer):
    """A vanilla recurrent layer: :math:`h_t = \\sigma(x_t W_x + h_{t-1} W_h + b)`.

    A ``CustomRecurrentLayer`` whose connections are dense layers named ``input_to_hidden``
    (weights ``W_in_to_hid``, bias ``b``) and ``hidden_to_hidden`` (weights ``W_hid_to_hid``).
    Inputs with more than one feature axis are flattened per step.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, sequence length, features...)``.
    num_units : int
        The number of hidden units.
    W_in_to_hid, W_hid_to_hid : initializer, array or shared variable
        :math:`W_x` ``(features, num_units)`` and :math:`W_h` ``(num_units, num_units)``;
        default ``init.Uniform()``.
    b : initializer, array, shared variable or None
        The bias ``(num_units,)``; None for none.
    nonlinearity, hid_init, backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        As for :class:`CustomRecurrentLayer`.

    Examples
    --------
    >>> import numpy as np, symdl
    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 5, 3))
    >>> l_mask = layers.InputLayer((None, 5))
    >>> l_rnn = layers.RecurrentLayer(l_in, 4, mask_input=l_mask, only_return_final=True)
    >>> [p.name for p in layers.get_all_params(l_rnn)]
    ['hid_init', 'input_to_hidden.W', 'input_to_hidden.b', 'hidden_to_hidden.W']
    >>> out = layers.get_output(l_rnn)
    >>> f = symdl.function([l_in.input_var, l_mask.input_var], out)
    >>> f(np.ones((2, 5, 3), 'float32'), np.ones((2, 5), 'float32')).shape
    (2, 4)
    """

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        W_in_to_hid: Any = init.Uniform(),
        W_hid_to_hid: Any = init.Uniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Any = nonlinearities.rectify,
        hid_init: Any = init.Constant(0.0),
        backwards: bool = False,
        learn_init: bool = False,
        gradient_steps: int = -1,
        grad_clipping: float = 0,
        unroll_scan: bool = False,
        precompute_input: bool = True,
        mask_input: Any = None,
        only_return_final: bool = False,
        **kwargs: Any,
    ):
        input_shape = tuple(incoming) if not _is_layer(incoming) else incoming.output_shape
        name = kwargs.get("name")
        prefix = f"{name}." if name else ""
        others = {k: v for k, v in kwargs.items() if k != "name"}
        in_to_hid = DenseLayer(InputLayer((None, *input_shape[2:])), num_units, W=W_in_to_hid, b=b,
                               nonlinearity=None, name=prefix + "input_to_hidden", **others)  # fmt: skip
        hid_to_hid = DenseLayer(InputLayer((None, num_units)), num_units, W=W_hid_to_hid, b=None,
                                nonlinearity=None, name=prefix + "hidden_to_hidden", **others)  # fmt: skip
        self.W_in_to_hid = in_to_hid.W
        self.W_hid_to_hid = hid_to_hid.W
        self.b = in_to_hid.b
        super().__init__(
            incoming, in_to_hid, hid_to_hid, nonlinearity=nonlinearity, hid_init=hid_init, backwards=backwards,
            learn_init=learn_init, gradient_steps=gradient_steps, grad_clipping=grad_clipping,
            unroll_scan=unroll_scan, precompute_input=precompute_input, mask_input=mask_input,
            only_return_final=only_return_final, **kwargs,
        )  # fmt: skip


class Gate:
    """The parameters of one gate of an ``LSTMLayer`` or ``GRULayer``: the gate computes
    ``nonlinearity(x_t W_in + h_{t-1} W_hid [+ c_{t-1} * W_cell] + b)``.

    Parameters
    ----------
    W_in, W_hid : initializer, array or shared variable
        The input-to-gate ``(features, units)`` and hidden-to-gate ``(units, units)`` weights.
    W_cell : initializer, array, shared variable or None
        The LSTM's peephole (cell-to-gate) weights ``(units,)``; None for a gate without.
    b : initializer, array or shared variable
        The bias ``(units,)``.
    nonlinearity : callable or None
        None means linear. Default ``sigmoid``.

    Examples
    --------
    A forget gate biased to remember (Gers et al. 2000):

    >>> from symdl import init, layers
    >>> l_lstm = layers.LSTMLayer((10, 20, 30), num_units=10, forgetgate=layers.Gate(b=init.Constant(5.0)))
    >>> float(l_lstm.b_forgetgate.get_value()[0])
    5.0
    """

    def __init__(
        self,
        W_in: Any = init.Normal(0.1),
        W_hid: Any = init.Normal(0.1),
        W_cell: Any = init.Normal(0.1),
        b: Any = init.Constant(0.0),
        nonlinearity: Any = nonlinearities.sigmoid,
    ):
        self.W_in = W_in
        self.W_hid = W_hid
        self.W_cell = W_cell
        self.b = b
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity

    def __repr__(self) -> str:
        return f"Gate(W_in={self.W_in!r}, W_hid={self.W_hid!r}, W_cell={self.W_cell!r}, b={self.b!r})"


class _GatedRecurrence(_Recurrence):
    """The LSTM and the GRU: gates with dense input and hidden connections, stacked side by side
    so that each step does one product with the stacked hidden weights."""

    _gate_names: tuple[str, ...] = ()  # in the stacked order

    def _add_gates(self, gates: dict[str, Gate], num_inputs: int) -> None:
        """Create ``W_in_to_<gate>``, ``W_hid_to_<gate>``, ``b_<gate>`` and ``nonlinearity_<gate>``
        for each gate, in the order given (Lasagne's parameter order)."""
        n = self.num_units
        for gate_name, gate in gates.items():
            for name, spec, shape, tags in (
                (f"W_in_to_{gate_name}", gate.W_in, (num_inputs, n), {}),
                (f"W_hid_to_{gate_name}", gate.W_hid, (n, n), {}),
                (f"b_{gate_name}", gate.b, (n,), {"regularizable": False}),
            ):
                setattr(self, name, self.add_param(spec, shape, name=name, **tags))
            setattr(self, f"nonlinearity_{gate_name}", gate.nonlinearity)

    def _stacked(self, kind: str) -> Any:
        return T.concatenate([getattr(self, f"{kind}{name}") for name in self._gate_names], axis=-1)

    def _project(self, input: Any, W_in: Any, b: Any) -> Any:
        """``input . W_in + b`` for every step at once (time-major input)."""
        return _split_time_and_batch(T.dot(_merge_time_and_batch(input), W_in) + b, input)

    def _gate(self, stacked: Any, k: int) -> Any:
        n = self.num_units
        return stacked[:, k * n : (k + 1) * n]

    def _prepare(self, inputs: list[Any]) -> tuple[Any, Any, dict[str, Any]]:
        """The time-major input (projected if ``precompute_input``), the mask, and the weights
        the step reads (as non-sequences, so that stacking them is done once, outside the loop)."""
        input = inputs[0]
        if input.ndim > 3:
            input = T.flatten(input, 3)
        input = _time_major(input)
        mask = inputs[self.mask_incoming_index] if self.mask_incoming_index > 0 else None
        W_in, b = self._stacked("W_in_to_"), self._stacked("b_")
        weights = {"W_hid": self._stacked("W_hid_to_")}
        if self.precompute_input:
            input = self._project(input, W_in, b)
        else:
            weights.update(W_in=W_in, b=b)
        return input, mask, weights

    def _run(self, step: Callable[..., Any], inputs: list[Any], input: Any, mask: Any, weights: dict[str, Any]) -> Any:
        """Loop ``step(input_t, *states, weights)`` and return the layer's output (the last state)."""
        names = list(weights)
        initial = self._state_values(inputs, shape_tuple(input)[1])
        dtype = _float_dtype(input, *initial, *weights.values())
        initial = [T.cast(v, dtype) if v.dtype != dtype else v for v in initial]

        def body(input_t: Any, *rest: Any) -> list[Any]:
            states, values = rest[: len(initial)], rest[len(initial) :]
            return step(input_t, *states, dict(zip(names, values)))

        outputs = self._loop(body, input, mask, initial, list(weights.values()))
        return self._arrange(outputs[-1])

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:
        return self._output_shape(input_shapes[0], (self.num_units,))


def _num_inputs(layer: Any) -> int:
    trailing = layer.input_shapes[0][2:]
    if None in trailing:
        raise ValueError(
            f"{layer._label()}: the feature dimensions of the input must be known to size the weights, "
            f"got input shape {layer.input_shapes[0]}"
        )
    return int(np.prod(trailing))


class LSTMLayer(_GatedRecurrence):
    """A long short-term memory layer (Graves 2013), with peephole connections and a forget gate:

    .. math::
        i_t &= \\sigma_i(x_t W_{xi} + h_{t-1} W_{hi} + w_{ci} \\odot c_{t-1} + b_i) \\\\
        f_t &= \\sigma_f(x_t W_{xf} + h_{t-1} W_{hf} + w_{cf} \\odot c_{t-1} + b_f) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot \\sigma_c(x_t W_{xc} + h_{t-1} W_{hc} + b_c) \\\\
        o_t &= \\sigma_o(x_t W_{xo} + h_{t-1} W_{ho} + w_{co} \\odot c_t + b_o) \\\\
        h_t &= o_t \\odot \\sigma_h(c_t)

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, sequence length, features...)`` (feature axes are flattened).
    num_units : int
        The number of hidden (and cell) units.
    ingate, forgetgate, cell, outgate : Gate
        The gates' initializers and nonlinearities (``cell`` has no peephole and ``tanh``).
        Their parameters are ``W_in_to_ingate``, ``W_hid_to_ingate``, ``b_ingate``, ... and, with
        ``peepholes``, ``W_cell_to_ingate``, ``W_cell_to_forgetgate``, ``W_cell_to_outgate``.
    nonlinearity : callable or None
        :math:`\\sigma_h`; default ``tanh``.
    cell_init, hid_init : initializer, array, shared variable or Layer
        The initial cell and hidden states: parameters ``(1, num_units)`` (learned if
        ``learn_init``) or layers giving one per batch row.
    peepholes : bool
        Use the peephole weights :math:`w_{ci}, w_{cf}, w_{co}` (vectors: element-wise).
    backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        As for :class:`CustomRecurrentLayer`; the clipping applies to the gates' pre-activations.

    Examples
    --------
    >>> import numpy as np, symdl
    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, None, 3))
    >>> l_lstm = layers.LSTMLayer(l_in, num_units=4, peepholes=False)
    >>> len(layers.get_all_params(l_lstm, trainable=True))
    12
    >>> f = symdl.function([l_in.input_var], layers.get_output(l_lstm))
    >>> f(np.ones((2, 6, 3), 'float32')).shape
    (2, 6, 4)
    """

    _state_names = ("cell_init", "hid_init")
    _gate_names = ("ingate", "forgetgate", "cell", "outgate")

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        ingate: Gate = Gate(),
        forgetgate: Gate = Gate(),
        cell: Gate = Gate(W_cell=None, nonlinearity=nonlinearities.tanh),
        outgate: Gate = Gate(),
        nonlinearity: Any = nonlinearities.tanh,
        cell_init: Any = init.Constant(0.0),
        hid_init: Any = init.Constant(0.0),
        backwards: bool = False,
        learn_init: bool = False,
        peepholes: bool = True,
        gradient_steps: int = -1,
        grad_clipping: float = 0,
        unroll_scan: bool = False,
        precompute_input: bool = True,
        mask_input: Any = None,
        only_return_final: bool = False,
        **kwargs: Any,
    ):
        super().__init__(incoming, mask_input, {"hid_init": hid_init, "cell_init": cell_init}, backwards,
                         learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input,
                         only_return_final, **kwargs)  # fmt: skip
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        self.peepholes = peepholes
        gates = {"ingate": ingate, "forgetgate": forgetgate, "cell": cell, "outgate": outgate}
        self._add_gates(gates, _num_inputs(self))
        if peepholes:
            for gate_name in ("ingate", "forgetgate", "outgate"):
                spec = gates[gate_name].W_cell
                if spec is None:
                    raise ValueError(f"{self._label()}: peepholes=True but the {gate_name} Gate has W_cell=None")
                name = f"W_cell_to_{gate_name}"
                setattr(self, name, self.add_param(spec, (num_units,), name=name))
        self.cell_init = self._initial_state(cell_init, (1, num_units), "cell_init")
        self.hid_init = self._initial_state(hid_init, (1, num_units), "hid_init")

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:
        input, mask, weights = self._prepare(inputs)
        if self.peepholes:
            weights.update((g, getattr(self, f"W_cell_to_{g}")) for g in ("ingate", "forgetgate", "outgate"))

        def step(input_t: Any, cell_previous: Any, hid_previous: Any, w: dict[str, Any]) -> list[Any]:
            if not self.precompute_input:
                input_t = T.dot(input_t, w["W_in"]) + w["b"]
            gates = self._clip(input_t + T.dot(hid_previous, w["W_hid"]))
            ingate, forgetgate, cell_input, outgate = (self._gate(gates, k) for k in range(4))
            if self.peepholes:
                ingate = ingate + cell_previous * w["ingate"]
                forgetgate = forgetgate + cell_previous * w["forgetgate"]
            ingate = self.nonlinearity_ingate(ingate)
            forgetgate = self.nonlinearity_forgetgate(forgetgate)
            cell_input = self.nonlinearity_cell(cell_input)
            cell = forgetgate * cell_previous + ingate * cell_input
            if self.peepholes:
                outgate = outgate + cell * w["outgate"]
            hid = self.nonlinearity_outgate(outgate) * self.nonlinearity(cell)
            return [cell, hid]

        return self._run(step, inputs, input, mask, weights)


class GRULayer(_GatedRecurrence):
    """A gated recurrent unit layer (Cho et al. 2014):

    .. math::
        r_t &= \\sigma_r(x_t W_{xr} + h_{t-1} W_{hr} + b_r) \\\\
        u_t &= \\sigma_u(x_t W_{xu} + h_{t-1} W_{hu} + b_u) \\\\
        c_t &= \\sigma_c(x_t W_{xc} + r_t \\odot (h_{t-1} W_{hc}) + b_c) \\\\
        h_t &= (1 - u_t) \\odot h_{t-1} + u_t \\odot c_t

    Parameters
    ----------
    incoming : Layer or tuple
        The input, ``(batch, sequence length, features...)`` (feature axes are flattened).
    num_units : int
        The number of hidden units.
    resetgate, updategate, hidden_update : Gate
        The gates' initializers and nonlinearities (``hidden_update``: ``tanh``); parameters
        ``W_in_to_resetgate``, ``W_hid_to_resetgate``, ``b_resetgate``, ... (no peepholes).
    hid_init, backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        As for :class:`CustomRecurrentLayer`; the clipping applies to the gates' input and
        hidden pre-activations and to the hidden update.

    Examples
    --------
    >>> import numpy as np, symdl
    >>> from symdl import layers
    >>> l_gru = layers.GRULayer(layers.InputLayer((None, 6, 3)), num_units=4, backwards=True)
    >>> [p.name for p in layers.get_all_params(l_gru, regularizable=False)]
    ['b_updategate', 'b_resetgate', 'b_hidden_update', 'hid_init']
    """

    _state_names = ("hid_init",)
    _gate_names = ("resetgate", "updategate", "hidden_update")

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        resetgate: Gate = Gate(W_cell=None),
        updategate: Gate = Gate(W_cell=None),
        hidden_update: Gate = Gate(W_cell=None, nonlinearity=nonlinearities.tanh),
        hid_init: Any = init.Constant(0.0),
        backwards: bool = False,
        learn_init: bool = False,
        gradient_steps: int = -1,
        grad_clipping: float = 0,
        unroll_scan: bool = False,
        precompute_input: bool = True,
        mask_input: Any = None,
        only_return_final: bool = False,
        **kwargs: Any,
    ):
        super().__init__(incoming, mask_input, {"hid_init": hid_init}, backwards, learn_init, gradient_steps,
                         grad_clipping, unroll_scan, precompute_input, only_return_final, **kwargs)  # fmt: skip
        self.num_units = num_units
        gates = {"updategate": updategate, "resetgate": resetgate, "hidden_update": hidden_update}
        self._add_gates(gates, _num_inputs(self))
        self.nonlinearity_hid = self.nonlinearity_hidden_update  # Lasagne's name
        self.hid_init = self._initial_state(hid_init, (1, num_units), "hid_init")

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:
        input, mask, weights = self._prepare(inputs)

        def step(input_t: Any, hid_previous: Any, w: dict[str, Any]) -> Any:
            if not self.precompute_input:
                input_t = T.dot(input_t, w["W_in"]) + w["b"]
            input_t = self._clip(input_t)
            hid_input = self._clip(T.dot(hid_previous, w["W_hid"]))
            resetgate = self.nonlinearity_resetgate(self._gate(input_t, 0) + self._gate(hid_input, 0))
            updategate = self.nonlinearity_updategate(self._gate(input_t, 1) + self._gate(hid_input, 1))
            hidden_update = self._gate(input_t, 2) + resetgate * self._gate(hid_input, 2)
            hidden_update = self.nonlinearity_hid(self._clip(hidden_update))
            return (1 - updategate) * hid_previous + updategate * hidden_update

        return self._run(step, inputs, input, mask, weights)
