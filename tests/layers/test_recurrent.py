"""The recurrent layers against NumPy loops: LSTMLayer, GRULayer and RecurrentLayer outputs and
gradients (BPTT) on masked batches of sequences of different lengths, forwards and backwards, on
every backend; their options (precompute_input, unroll_scan, only_return_final, gradient_steps,
grad_clipping, initial states as parameters or layers); Lasagne's parameters and errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import init, layers, nonlinearities
from symdl.utils import unroll_scan

BATCH, STEPS, FEATURES, UNITS = 3, 5, 2, 3
LENGTHS = (5, 3, 1)  # a batch of sequences of different lengths


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def make_mask(lengths=LENGTHS, steps=STEPS):
    return (np.arange(steps)[None, :] < np.asarray(lengths)[:, None]).astype(symdl.config.floatX)


def scan_order(steps, backwards):
    return range(steps - 1, -1, -1) if backwards else range(steps)


def carry(mask, t, new, old):
    """The masked update: the new state where the sequence has step t, else the old one."""
    return new if mask is None else np.where(mask[:, t, None] > 0, new, old)


def lstm_reference(x, mask, p, peepholes=True, backwards=False):
    """Lasagne's LSTM, step by step, batch-first; ``p`` maps parameter names to values."""
    batch, steps = x.shape[:2]
    c = np.broadcast_to(p["cell_init"], (batch, UNITS))
    h = np.broadcast_to(p["hid_init"], (batch, UNITS))
    out = np.zeros((batch, steps, UNITS))
    for t in scan_order(steps, backwards):
        pre = {g: x[:, t] @ p[f"W_in_to_{g}"] + h @ p[f"W_hid_to_{g}"] + p[f"b_{g}"] for g in
               ("ingate", "forgetgate", "cell", "outgate")}  # fmt: skip
        if peepholes:
            pre["ingate"] = pre["ingate"] + c * p["W_cell_to_ingate"]
            pre["forgetgate"] = pre["forgetgate"] + c * p["W_cell_to_forgetgate"]
        c_new = sigmoid(pre["forgetgate"]) * c + sigmoid(pre["ingate"]) * np.tanh(pre["cell"])
        if peepholes:
            pre["outgate"] = pre["outgate"] + c_new * p["W_cell_to_outgate"]
        h_new = sigmoid(pre["outgate"]) * np.tanh(c_new)
        c, h = carry(mask, t, c_new, c), carry(mask, t, h_new, h)
        out[:, t] = h
    return out


def gru_reference(x, mask, p, backwards=False):
    batch, steps = x.shape[:2]
    h = np.broadcast_to(p["hid_init"], (batch, UNITS))
    out = np.zeros((batch, steps, UNITS))
    for t in scan_order(steps, backwards):
        pre = {g: x[:, t] @ p[f"W_in_to_{g}"] + p[f"b_{g}"] for g in ("resetgate", "updategate", "hidden_update")}
        r = sigmoid(pre["resetgate"] + h @ p["W_hid_to_resetgate"])
        u = sigmoid(pre["updategate"] + h @ p["W_hid_to_updategate"])
        c = np.tanh(pre["hidden_update"] + r * (h @ p["W_hid_to_hidden_update"]))
        h = carry(mask, t, (1 - u) * h + u * c, h)
        out[:, t] = h
    return out


def rnn_reference(x, mask, p, nonlinearity=np.tanh, backwards=False):
    batch, steps = x.shape[:2]
    h = np.broadcast_to(p["hid_init"], (batch, UNITS))
    out = np.zeros((batch, steps, UNITS))
    for t in scan_order(steps, backwards):
        new = nonlinearity(x[:, t] @ p["input_to_hidden.W"] + p["input_to_hidden.b"] + h @ p["hidden_to_hidden.W"])
        h = carry(mask, t, new, h)
        out[:, t] = h
    return out


def build(kind, steps=None, **options):
    """A layer of ``kind`` on (batch, steps, features) inputs with a mask, parameters drawn so
    that every term matters (biases and initial states too); the same parameters every time."""
    init.set_rng(np.random.RandomState(0))
    l_in = layers.InputLayer((None, steps, FEATURES))
    l_mask = layers.InputLayer((None, steps))
    random = init.Normal(0.5)
    if kind == "lstm":
        gate = layers.Gate(W_in=random, W_hid=random, W_cell=random, b=random)
        cell = layers.Gate(W_in=random, W_hid=random, W_cell=None, b=random, nonlinearity=nonlinearities.tanh)
        layer = layers.LSTMLayer(l_in, UNITS, ingate=gate, forgetgate=gate, cell=cell, outgate=gate,
                                 cell_init=random, hid_init=random, mask_input=l_mask, **options)  # fmt: skip
    elif kind == "gru":
        gate = layers.Gate(W_in=random, W_hid=random, W_cell=None, b=random)
        update = layers.Gate(W_in=random, W_hid=random, W_cell=None, b=random, nonlinearity=nonlinearities.tanh)
        layer = layers.GRULayer(l_in, UNITS, resetgate=gate, updategate=gate, hidden_update=update,
                                hid_init=random, mask_input=l_mask, **options)  # fmt: skip
    else:
        layer = layers.RecurrentLayer(l_in, UNITS, W_in_to_hid=random, W_hid_to_hid=random, b=random,
                                      nonlinearity=nonlinearities.tanh, hid_init=random, mask_input=l_mask,
                                      **options)  # fmt: skip
    return layer, l_in, l_mask


def reference(kind, x, mask, values, backwards=False, peepholes=True):
    if kind == "lstm":
        return lstm_reference(x, mask, values, peepholes=peepholes, backwards=backwards)
    if kind == "gru":
        return gru_reference(x, mask, values, backwards=backwards)
    return rnn_reference(x, mask, values, backwards=backwards)


def param_values(layer):
    return {p.name: p.get_value().astype(np.float64) for p in layers.get_all_params(layer)}


def inputs(rng, dtype=None):
    dtype = dtype or symdl.config.floatX
    return rng.normal(size=(BATCH, STEPS, FEATURES)).astype(dtype), make_mask()


KINDS = ["lstm", "gru", "rnn"]


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_match_a_numpy_loop_on_a_masked_batch(kind, backwards, backend, rng):
    layer, l_in, l_mask = build(kind, backwards=backwards)
    f = symdl.function([l_in.input_var, l_mask.input_var], layers.get_output(layer), mode=backend)
    x, mask = inputs(rng)
    got = f(x, mask)
    assert got.shape == (BATCH, STEPS, UNITS) and got.dtype == np.float32
    expected = reference(kind, x.astype(np.float64), mask, param_values(layer), backwards=backwards)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if not backwards:  # past its end a sequence keeps its last state
        np.testing.assert_array_equal(got[1, 3:], np.broadcast_to(got[1, 2], (2, UNITS)))
        np.testing.assert_array_equal(got[2, 1:], np.broadcast_to(got[2, 0], (4, UNITS)))


def test_lstm_without_peepholes_matches_a_numpy_loop(rng):
    layer, l_in, l_mask = build("lstm", peepholes=False)
    assert not any(p.name.startswith("W_cell") for p in layer.get_params())
    x, mask = inputs(rng)
    got = layers.get_output(layer).eval({l_in.input_var: x, l_mask.input_var: mask})
    np.testing.assert_allclose(got, lstm_reference(x, mask, param_values(layer), peepholes=False), rtol=1e-5, atol=1e-5)


def numeric_gradient(loss, value, eps=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        saved = value[index]
        value[index] = saved + eps
        up = loss()
        value[index] = saved - eps
        down = loss()
        value[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("options", [{}, {"backwards": True, "precompute_input": False}], ids=["forwards", "backwards"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences_of_a_numpy_loop(kind, options, rng):
    with symdl.config.change(floatX="float64"):
        layer, l_in, l_mask = build(kind, learn_init=True, **options)
        x, mask = inputs(rng)
        weights = rng.normal(size=(BATCH, STEPS, UNITS))
        params = layers.get_all_params(layer, trainable=True)
        assert "hid_init" in [p.name for p in params]
        loss = (layers.get_output(layer) * weights).sum()
        f = symdl.function([l_in.input_var, l_mask.input_var], symdl.grad(loss, [l_in.input_var, *params]))
        got = f(x, mask)
    values = param_values(layer)
    backwards = options.get("backwards", False)

    def reference_loss():
        return (reference(kind, x, mask, values, backwards=backwards) * weights).sum()

    np.testing.assert_allclose(got[0], numeric_gradient(reference_loss, x), rtol=1e-5, atol=1e-7)
    for p, g in zip(params, got[1:]):
        np.testing.assert_allclose(g, numeric_gradient(reference_loss, values[p.name]), rtol=1e-5, atol=1e-7,
                                   err_msg=p.name)  # fmt: skip
    # masked steps take no part: the input past a sequence's end gets no gradient
    assert np.all(got[0][1, 3:] == 0) and np.all(got[0][2, 1:] == 0)


# ---------------------------------------------------------------- options
@pytest.mark.parametrize("kind", KINDS)
def test_precompute_input_and_unroll_scan_give_the_same_values_and_gradients(kind, rng):
    x, mask = inputs(rng)
    results = []
    for options in ({}, {"precompute_input": False}, {"unroll_scan": True}):
        layer, l_in, l_mask = build(kind, steps=STEPS, backwards=True, **options)
        out = layers.get_output(layer)
        params = layers.get_all_params(layer, trainable=True)
        f = symdl.function([l_in.input_var, l_mask.input_var], [out, *symdl.grad((out**2).sum(), params)])
        results.append(f(x, mask))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_only_return_final_is_the_state_after_the_last_step_processed(kind, backwards, rng):
    x, mask = inputs(rng)
    final, l_in, l_mask = build(kind, backwards=backwards, only_return_final=True)
    every, _, _ = build(kind, backwards=backwards)
    assert final.output_shape == (None, UNITS) and every.output_shape == (None, None, UNITS)
    f = symdl.function([l_in.input_var, l_mask.input_var], layers.get_output(final))
    g = symdl.function([every.input_layers[0].input_var, every.input_layers[1].input_var], layers.get_output(every))
    got, all_steps = f(x, mask), g(x, mask)
    assert got.shape == (BATCH, UNITS)
    # a backward loop ends at the first step; a forward one at the last (carried past each end)
    np.testing.assert_allclose(got, all_steps[:, 0] if backwards else all_steps[:, -1], rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_steps_truncates_back_propagation_through_time(kind, rng):
    x, _ = inputs(rng)
    full_mask = np.ones((BATCH, STEPS), symdl.config.floatX)
    grads = []
    for steps in (-1, 2):
        layer, l_in, l_mask = build(kind, gradient_steps=steps)
        last = layers.get_output(layer)[:, -1].sum()
        grads.append(symdl.function([l_in.input_var, l_mask.input_var], symdl.grad(last, l_in.input_var))(x, full_mask))
    full, truncated = grads
    assert np.all(full[:, :-2] != 0)
    np.testing.assert_array_equal(truncated[:, :-2], 0)  # more than 2 steps back: cut
    np.testing.assert_allclose(truncated[:, -2:], full[:, -2:], rtol=1e-5)  # the last 2 steps: exact


def stacked_input_weights(layer):
    if isinstance(layer, layers.RecurrentLayer):
        return layer.W_in_to_hid.get_value()
    names = ("ingate", "forgetgate", "cell", "outgate") if isinstance(layer, layers.LSTMLayer) else (
        "resetgate", "updategate", "hidden_update")  # fmt: skip
    return np.concatenate([getattr(layer, f"W_in_to_{g}").get_value() for g in names], axis=1)


@pytest.mark.parametrize("kind", KINDS)
def test_grad_clipping_bounds_the_gradient_of_the_pre_activations_and_leaves_values_alone(kind, rng):
    x, mask = inputs(rng)
    weights = 100 * rng.normal(size=(BATCH, STEPS, UNITS)).astype(np.float32)
    results = []
    for clip in (0, 1e-3):
        layer, l_in, l_mask = build(kind, grad_clipping=clip)
        out = layers.get_output(layer)
        loss = (out * weights).sum()
        f = symdl.function([l_in.input_var, l_mask.input_var], [out, symdl.grad(loss, l_in.input_var)])
        results.append(f(x, mask))
    (out, grad), (clipped_out, clipped_grad) = results
    np.testing.assert_array_equal(out, clipped_out)
    # each step's input reaches the loss through the clipped pre-activations: x_t . W_in
    bound = 1e-3 * np.abs(stacked_input_weights(layer)).sum(axis=1) * (1 + 1e-5)
    assert np.all(np.abs(clipped_grad) <= bound)
    assert np.any(np.abs(grad) > bound)


def test_initial_states_from_layers_give_each_sequence_its_own(rng):
    l_in, l_mask = layers.InputLayer((None, None, FEATURES)), layers.InputLayer((None, None))
    l_hid, l_cell = layers.InputLayer((None, UNITS)), layers.InputLayer((None, UNITS))
    init.set_rng(np.random.RandomState(0))
    layer = layers.LSTMLayer(l_in, UNITS, hid_init=l_hid, cell_init=l_cell, mask_input=l_mask)
    assert layers.get_all_layers(layer) == [l_in, l_mask, l_hid, l_cell, layer]
    assert not {"hid_init", "cell_init"} & {p.name for p in layers.get_all_params(layer)}
    x, mask = inputs(rng)
    h0, c0 = rng.normal(size=(2, BATCH, UNITS)).astype(np.float32)
    f = symdl.function([l_in.input_var, l_mask.input_var, l_hid.input_var, l_cell.input_var], layers.get_output(layer))
    values = {**param_values(layer), "hid_init": h0, "cell_init": c0}
    np.testing.assert_allclose(f(x, mask, h0, c0), lstm_reference(x, mask, values), rtol=1e-5, atol=1e-6)


def test_lstm_parameters_have_lasagnes_names_order_and_tags():
    layer = layers.LSTMLayer(layers.InputLayer((None, 4, FEATURES)), UNITS, name="lstm")
    gates = ("ingate", "forgetgate", "cell", "outgate")
    names = [f"lstm.{w}_{g}" for g in gates for w in ("W_in_to", "W_hid_to", "b")]
    names += [f"lstm.W_cell_to_{g}" for g in ("ingate", "forgetgate", "outgate")] + ["lstm.cell_init", "lstm.hid_init"]
    assert [p.name for p in layers.get_all_params(layer)] == names
    assert len(layers.get_all_params(layer, trainable=True)) == 15  # initial states are learned only with learn_init
    assert [p.name for p in layers.get_all_params(layer, regularizable=False)] == [
        *(f"lstm.b_{g}" for g in gates), "lstm.cell_init", "lstm.hid_init"]  # fmt: skip
    assert layer.W_in_to_ingate.get_value().shape == (FEATURES, UNITS) and layer.W_cell_to_ingate.ndim == 1
    learned = layers.LSTMLayer(layers.InputLayer((None, 4, FEATURES)), UNITS, learn_init=True)
    assert len(layers.get_all_params(learned, trainable=True)) == 17
    assert (
        layers.count_params(layers.GRULayer((None, 4, FEATURES), UNITS)) == 3 * (FEATURES + UNITS + 1) * UNITS + UNITS
    )


def test_gate_defaults_follow_lasagne():
    gate = layers.Gate()
    assert gate.nonlinearity is nonlinearities.sigmoid and gate.W_cell is not None
    assert layers.Gate(nonlinearity=None).nonlinearity is nonlinearities.identity
    layer = layers.LSTMLayer((None, 4, FEATURES), UNITS)
    assert layer.nonlinearity_cell is nonlinearities.tanh and layer.nonlinearity is nonlinearities.tanh
    assert layers.GRULayer((None, 4, FEATURES), UNITS).nonlinearity_hid is nonlinearities.tanh


def test_a_float64_input_runs_a_float32_layer_in_float64(rng):
    layer, l_in, l_mask = build("rnn")
    x, m = T.dtensor3("x"), T.dmatrix("m")
    out = layers.get_output(layer, {l_in: x, l_mask: m})
    assert out.dtype == "float64"
    xv, mask = inputs(rng, "float64")
    got = symdl.function([x, m], out)(xv, mask.astype(np.float64))
    np.testing.assert_allclose(got, rnn_reference(xv, mask, param_values(layer)), rtol=1e-12)


def test_custom_recurrent_layer_with_dense_connections_is_a_recurrent_layer(rng):
    rnn, l_in, l_mask = build("rnn")
    custom = layers.CustomRecurrentLayer(l_in, rnn.input_to_hidden, rnn.hidden_to_hidden, hid_init=rnn.hid_init,
                                         nonlinearity=nonlinearities.tanh, mask_input=l_mask)  # fmt: skip
    assert layers.get_all_params(custom) == layers.get_all_params(rnn)
    x, mask = inputs(rng)
    f = symdl.function([l_in.input_var, l_mask.input_var], [layers.get_output(custom), layers.get_output(rnn)])
    a, b = f(x, mask)
    np.testing.assert_array_equal(a, b)


def test_a_convolutional_recurrence_carries_whole_feature_maps_past_the_end_of_a_sequence(rng):
    l_in = layers.InputLayer((None, STEPS, 2, 4, 4))
    l_mask = layers.InputLayer((None, STEPS))
    in_to_hid = layers.Conv2DLayer(layers.InputLayer((None, 2, 4, 4)), 3, 3, pad="same")
    hid_to_hid = layers.Conv2DLayer(layers.InputLayer((None, 3, 4, 4)), 3, 3, pad="same")
    layer = layers.CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid, mask_input=l_mask, nonlinearity=T.tanh)
    assert layer.output_shape == (None, STEPS, 3, 4, 4)
    f = symdl.function([l_in.input_var, l_mask.input_var], layers.get_output(layer))
    got = f(rng.normal(size=(BATCH, STEPS, 2, 4, 4)).astype(np.float32), make_mask())
    assert got.shape == (BATCH, STEPS, 3, 4, 4)
    np.testing.assert_array_equal(got[2, 1:], np.broadcast_to(got[2, 0], (STEPS - 1, 3, 4, 4)))
    assert not np.allclose(got[0, 1], got[0, 0])


def test_unroll_scan_needs_the_sequence_length_and_the_whole_gradient():
    with pytest.raises(ValueError, match="gradient_steps must be -1"):
        layers.LSTMLayer((None, 4, FEATURES), UNITS, unroll_scan=True, gradient_steps=2)
    with pytest.raises(ValueError, match=r"sequence length .* known"):
        layers.GRULayer((None, None, FEATURES), UNITS, unroll_scan=True)


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ValueError, match="ingate Gate has W_cell=None"):
        layers.LSTMLayer((None, 4, FEATURES), UNITS, ingate=layers.Gate(W_cell=None))
    with pytest.raises(ValueError, match="feature dimensions of the input must be known"):
        layers.LSTMLayer((None, 4, None), UNITS)
    two_inputs = layers.ConcatLayer([layers.InputLayer((None, 2)), layers.InputLayer((None, 2))])
    with pytest.raises(ValueError, match="exactly one InputLayer, found 2"):
        layers.CustomRecurrentLayer((None, 4, 4), layers.DenseLayer(two_inputs, 3),
                                    layers.DenseLayer(layers.InputLayer((None, 3)), 3))  # fmt: skip
    with pytest.raises(ValueError, match="hidden_to_hidden takes inputs of shape"):
        layers.CustomRecurrentLayer((None, 4, 2), layers.DenseLayer(layers.InputLayer((None, 2)), 3),
                                    layers.DenseLayer(layers.InputLayer((None, 5)), 3))  # fmt: skip


@pytest.mark.parametrize("go_backwards", [False, True])
def test_unroll_scan_matches_scan(go_backwards):
    x, h0 = T.dmatrix("x"), T.dvector("h0")

    def step(x_t, h):
        return T.tanh(x_t + 0.5 * h)

    looped, _ = symdl.scan(step, sequences=x, outputs_info=h0, go_backwards=go_backwards)
    (unrolled,) = unroll_scan(step, x, [h0], [], 4, go_backwards=go_backwards)
    f = symdl.function([x, h0], [looped, unrolled])
    a, b = f(np.linspace(-1, 1, 12).reshape(4, 3), np.ones(3))
    np.testing.assert_allclose(a, b, rtol=1e-12)


class Scaled(layers.Layer):
    """Multiplies by ``get_output``'s keyword ``scale``."""

    def get_output_for(self, input, scale=1.0, **kwargs):
        return input * scale


def test_get_output_keywords_reach_the_connections_and_unknown_ones_warn(rng, recwarn):
    l_in = layers.InputLayer((None, STEPS, FEATURES))
    in_to_hid = layers.DenseLayer(layers.InputLayer((None, FEATURES)), UNITS, nonlinearity=None)
    hid_to_hid = Scaled(layers.DenseLayer(layers.InputLayer((None, UNITS)), UNITS, nonlinearity=None))
    layer = layers.CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid, nonlinearity=None)
    assert layer.get_output_kwargs == ["scale"]
    x = rng.normal(size=(2, STEPS, FEATURES)).astype(np.float32)
    f = symdl.function([l_in.input_var], [layers.get_output(layer), layers.get_output(layer, scale=0.0)])
    assert not [w for w in recwarn if "unused kwargs" in str(w.message)]
    recurrent, without_recurrence = f(x)
    # scale=0 cuts the recurrence: every step is its input's product alone
    expected = x @ in_to_hid.W.get_value() + in_to_hid.b.get_value()
    np.testing.assert_allclose(without_recurrence, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(recurrent, without_recurrence)
    with pytest.warns(UserWarning, match="scal .*perhaps you meant scale"):
        layers.get_output(layer, scal=0.0)
