"""Network-wide helpers: outputs, shapes, parameters, values, freezing, saving, pickling."""

import pickle

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers, nonlinearities


def mlp():
    l_in = layers.InputLayer((None, 4), name="in")
    hidden = layers.DenseLayer(l_in, 8, name="hidden")
    drop = layers.DropoutLayer(hidden, p=0.5)
    out = layers.DenseLayer(drop, 3, nonlinearity=nonlinearities.softmax, name="out")
    return l_in, hidden, drop, out


def test_get_all_layers_is_in_topological_order_with_shared_branches_once():
    l_in = layers.InputLayer((None, 4))
    a, b = layers.DenseLayer(l_in, 3), layers.DenseLayer(l_in, 3)
    merged = layers.ElemwiseSumLayer([a, b])
    order = layers.get_all_layers(merged)
    assert order == [l_in, a, b, merged]
    assert layers.get_all_layers(merged, treat_as_input=[a]) == [a, l_in, b, merged]
    assert layers.get_all_layers([a, b]) == [l_in, a, b]


def test_get_output_replaces_inputs_by_expressions_or_arrays():
    l_in, hidden, _, out = mlp()
    x = T.fmatrix("x")
    expr = layers.get_output(out, x, deterministic=True)
    assert symdl.function([x], expr, mode="py")(np.ones((2, 4), np.float32)).shape == (2, 3)
    value = layers.get_output(hidden, np.ones((5, 4))).eval()
    assert value.shape == (5, 8) and value.dtype == np.float32
    h = T.fmatrix("h")
    from_hidden = layers.get_output(out, {hidden: h}, deterministic=True)
    assert symdl.function([h], from_hidden, mode="py")(np.ones((2, 8), np.float32)).shape == (2, 3)
    both = layers.get_output([hidden, out], deterministic=True)
    assert isinstance(both, list) and len(both) == 2


def test_get_output_explains_a_layer_without_input():
    floating = layers.DenseLayer((None, 4), 2)
    with pytest.raises(ValueError, match="created from a shape"):
        layers.get_output(floating)
    on_top = layers.DenseLayer(floating, 5)
    assert layers.get_output(on_top, {floating: T.fmatrix("x")}).ndim == 2


def test_get_output_with_several_inputs_needs_a_dict():
    a, b = layers.InputLayer((None, 2)), layers.InputLayer((None, 2))
    with pytest.raises(ValueError, match="several input layers"):
        layers.get_output(layers.ConcatLayer([a, b]), T.fmatrix("x"))


def test_get_output_shape_for_other_input_shapes():
    l_in, _, _, out = mlp()
    assert layers.get_output_shape(out) == (None, 3)
    assert layers.get_output_shape(out, (7, 4)) == (7, 3)
    assert layers.get_output_shape([l_in, out], {l_in: (9, 4)}) == [(9, 4), (9, 3)]


def test_get_all_params_filters_by_tags_and_count_params_counts():
    l_in, hidden, _, out = mlp()
    assert layers.get_all_params(out) == [hidden.W, hidden.b, out.W, out.b]
    assert layers.get_all_params(out, regularizable=True) == [hidden.W, out.W]
    assert layers.get_all_params(out, regularizable=False) == [hidden.b, out.b]
    assert layers.count_params(out) == 4 * 8 + 8 + 8 * 3 + 3
    assert layers.count_params(out, regularizable=True) == 4 * 8 + 8 * 3


def test_param_values_round_trip_and_mismatches_name_the_layer():
    _, hidden, _, out = mlp()
    values = layers.get_all_param_values(out)
    other = mlp()[3]
    layers.set_all_param_values(other, values)
    for a, b in zip(layers.get_all_param_values(other), values):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="4 parameters, got 3"):
        layers.set_all_param_values(other, values[:3])
    bad = list(values)
    bad[2] = np.zeros((8, 5), np.float32)
    with pytest.raises(ValueError, match=r"shape \(8, 5\) but parameter out.W of DenseLayer 'out' has shape \(8, 3\)"):
        layers.set_all_param_values(other, bad)


def test_removing_the_trainable_tag_or_set_trainable_freezes_parameters():
    _, hidden, _, out = mlp()
    out.params[out.W].discard("trainable")
    assert out.W not in layers.get_all_params(out, trainable=True)
    out.params[out.W].add("trainable")
    layers.set_trainable(hidden, False)
    assert layers.get_all_params(out, trainable=True) == [out.W, out.b]
    layers.set_trainable(out, True)
    assert len(layers.get_all_params(out, trainable=True)) == 4
    bn = layers.BatchNormLayer(out)
    layers.set_trainable(bn, False)
    layers.set_trainable(bn, True)
    assert bn.mean not in layers.get_all_params(bn, trainable=True)


def test_frozen_parameters_do_not_move_in_training():
    l_in, hidden, _, out = mlp()
    y = T.ivector("y")
    layers.set_trainable(hidden, False)
    # Positive biases keep hidden units alive through the ReLU: with all of them dead, or dropped
    # in every row, the head's gradient would be zero (the flaky failure of issue 17, defect 11).
    hidden.b.set_value(np.ones(8, np.float32))
    loss = T.nnet.categorical_crossentropy(layers.get_output(out), y).mean()
    from symdl import updates

    train = symdl.function(
        [l_in.input_var, y], loss, updates=updates.sgd(loss, layers.get_all_params(out, trainable=True), 0.5), mode="py"
    )
    before = hidden.W.get_value()
    head_before = out.W.get_value()
    train(np.ones((4, 4), np.float32), np.array([0, 1, 2, 0], np.int32))
    np.testing.assert_array_equal(hidden.W.get_value(), before)
    assert not np.array_equal(out.W.get_value(), head_before)


def test_save_and_load_params_through_npz(tmp_path):
    _, _, _, out = mlp()
    path = tmp_path / "model.npz"
    layers.save_params(out, path)
    with np.load(path) as f:
        assert f.files == [p.name for p in layers.get_all_params(out)]  # keyed by parameter name
    other = mlp()[3]
    layers.load_params(other, path)
    for a, b in zip(layers.get_all_param_values(other), layers.get_all_param_values(out)):
        np.testing.assert_array_equal(a, b)
    lasagne_layout = tmp_path / "lasagne.npz"  # what Lasagne's examples (and symdl before names) wrote
    np.savez(lasagne_layout, *layers.get_all_param_values(out))
    layers.load_params(mlp()[3], lasagne_layout)
    smaller = layers.DenseLayer(layers.DenseLayer(layers.InputLayer((None, 4)), 7, name="hidden"), 3, name="out")
    with pytest.raises(ValueError, match="DenseLayer 'hidden'"):
        layers.load_params(smaller, path)
    renamed = layers.DenseLayer(layers.DenseLayer(layers.InputLayer((None, 4)), 8, name="h"), 3, name="out")
    with pytest.raises(ValueError, match="missing h.W, h.b; unexpected hidden.W, hidden.b"):
        layers.load_params(renamed, path)


def test_a_pickled_network_computes_the_same_outputs():
    l_in, _, _, out = mlp()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    want = symdl.function([l_in.input_var], layers.get_output(out, deterministic=True), mode="py")(x)
    copy = pickle.loads(pickle.dumps(out))
    copy_in = layers.get_all_layers(copy)[0]
    got = symdl.function([copy_in.input_var], layers.get_output(copy, deterministic=True), mode="py")(x)
    np.testing.assert_array_equal(got, want)
    assert layers.get_all_params(copy)[0] is not layers.get_all_params(out)[0]
    train_out = symdl.function([copy_in.input_var], layers.get_output(copy), mode="py")(x)
    assert train_out.shape == (3, 3)


def test_a_network_pickled_with_its_training_function_keeps_sharing_the_parameters():
    l_in, _, _, out = mlp()
    y = T.ivector("y")
    loss = symdl.objectives.categorical_crossentropy(layers.get_output(out), y).mean()
    params = layers.get_all_params(out, trainable=True)
    train = symdl.function([l_in.input_var, y], loss, updates=symdl.updates.sgd(loss, params, 0.1))
    net_copy, train_copy = pickle.loads(pickle.dumps((out, train)))
    before = layers.get_all_param_values(net_copy)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    train_copy(x, np.array([0, 1, 2, 0, 1], np.int32))
    after = layers.get_all_param_values(net_copy)
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))  # the copy trains the copy
    for original, trained in zip(layers.get_all_param_values(out), after):
        assert not np.array_equal(original, trained)  # and leaves the original alone


# ------------------------------------------------------------------ Lasagne's duck typing
def test_get_all_layers_skips_missing_inputs_and_stops_at_treated_layers():
    floating = layers.Layer((None, 4))
    l_in = layers.InputLayer((None, 4))
    merged = layers.ElemwiseSumLayer([floating, l_in])
    assert layers.get_all_layers(merged) == [floating, l_in, merged]
    top = layers.DenseLayer(merged, 2)
    assert layers.get_all_layers([top, floating], treat_as_input=[top]) == [top, floating]


def test_get_output_passes_only_the_keywords_given():
    from unittest.mock import Mock

    l_in = layers.InputLayer((None, 3))
    layer = layers.Layer(l_in)
    layer.get_output_for = Mock()
    layers.get_output(layer)
    layer.get_output_for.assert_called_with(l_in.input_var)
    layers.get_output(layer, deterministic=True)
    layer.get_output_for.assert_called_with(l_in.input_var, deterministic=True)


def test_get_output_warns_about_keywords_no_layer_takes():
    _, _, _, out = mlp()
    with pytest.warns(UserWarning, match="perhaps you meant deterministic"):
        layers.get_output(out, determinstic=True)
    with pytest.warns(UserWarning, match=r"unused kwargs:\n\tzzz$"):
        layers.get_output(out, zzz=1)


def test_get_output_with_a_none_key_feeds_a_layer_created_from_a_shape():
    layer = layers.DenseLayer((None, 4), 2)
    x = T.fmatrix("x")
    assert layers.get_output(layer, {None: x}).owner is not None
    assert layers.get_output(layer, {layer: x}) is x


def test_input_dicts_need_layer_keys():
    l_in = layers.InputLayer((None, 4))
    with pytest.raises(TypeError, match="must be layers"):
        layers.get_output(l_in, {"input": T.fmatrix()})
    with pytest.raises(TypeError, match="must be layers"):
        layers.get_output_shape(l_in, {l_in.input_var: (2, 4)})


def test_get_output_shape_returns_the_given_shapes_themselves():
    l_in, hidden, _, out = mlp()
    shape = (7, 8)
    assert layers.get_output_shape(hidden, {hidden: shape}) is shape
    assert layers.get_output_shape(out, {}) == (None, 3)
    with pytest.raises(ValueError, match="created from a shape"):
        layers.get_output_shape(layers.DenseLayer((None, 4), 2), {l_in: (1, 4)})


def test_params_given_as_expressions_count_as_their_shared_variables():
    l_in = layers.InputLayer((None, 4))
    w1 = symdl.shared(np.ones((4, 2), "float32"), name="w1")
    w2 = symdl.shared(np.ones((2, 3), "float32"), name="w2")
    w_expr = T.dot(w1, w2)
    net = layers.DenseLayer(l_in, 3, W=w_expr, b=None)
    assert layers.get_all_params(net) == [w1, w2]
    assert layers.get_all_params(net, unwrap_shared=False) == [w_expr]
    assert layers.count_params(net) == 14
    layers.set_all_param_values(net, [np.zeros((4, 2), "float32"), np.zeros((2, 3), "float32")])
    assert not w1.get_value().any()


def test_any_iterable_of_layers_is_a_list_of_layers():
    l_in, hidden, _, out = mlp()
    assert layers.get_all_layers(iter([hidden])) == [l_in, hidden]
    shapes = layers.get_output_shape(layer for layer in (hidden, out))
    assert shapes == [(None, 8), (None, 3)]
    x = T.fmatrix("x")
    outputs = layers.get_output((layer for layer in (hidden, out)), x, deterministic=True)
    assert [o.type.shape for o in outputs] == [(None, 8), (None, 3)]
    assert layers.get_output_shape((layer for layer in (hidden, out)), (5, 4)) == [(5, 8), (5, 3)]
