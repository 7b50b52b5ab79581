"""save_params / load_params by name, and load_weights from either format."""

import numpy as np
import pytest

from symdl import layers, nonlinearities
from symdl.errors import ShapeError
from symdl.models import load_weights, network_outputs, save_lasagne_pickle


def body(channels=4, name="conv"):
    net = layers.InputLayer((None, 1, 6, 6), name="input")
    net = layers.Conv2DLayer(net, channels, 3, pad=1, name=name)
    return layers.MaxPool2DLayer(net, 2, name="pool")


def head(incoming, classes, name):
    return layers.DenseLayer(incoming, classes, nonlinearity=nonlinearities.softmax, name=name)


def values_of(net):
    return [p.get_value() for p in layers.get_all_params(net)]


def test_parameters_round_trip_by_name(tmp_path):
    net = head(body(), 3, "out")
    path = tmp_path / "net.npz"
    layers.save_params(net, path)
    with np.load(path) as data:
        assert data.files == ["conv.W", "conv.b", "out.W", "out.b"]
    other = head(body(), 3, "out")
    assert layers.load_params(other, path) == ([], [])
    for a, b in zip(values_of(other), values_of(net)):
        np.testing.assert_array_equal(a, b)


def test_unnamed_and_duplicate_names_are_keyed_by_position_and_still_round_trip(tmp_path):
    def unnamed():
        return layers.DenseLayer(layers.DenseLayer(layers.InputLayer((None, 3)), 4), 2)

    net, path = unnamed(), tmp_path / "unnamed.npz"
    layers.save_params(net, path)
    with np.load(path) as data:
        assert data.files == ["W#0", "b#1", "W#2", "b#3"]
    other = unnamed()
    layers.load_params(other, path)
    for a, b in zip(values_of(other), values_of(net)):
        np.testing.assert_array_equal(a, b)


def test_mismatched_names_are_listed_and_a_non_strict_load_takes_the_common_ones(tmp_path):
    pretrained = head(body(), 3, "old_head")
    path = tmp_path / "pretrained.npz"
    layers.save_params(pretrained, path)
    new = head(body(), 5, "new_head")
    before = new.W.get_value()
    with pytest.raises(
        ValueError, match=r"missing new_head.W, new_head.b; unexpected old_head.W, old_head.b\. Pass strict=False"
    ):
        layers.load_params(new, path)
    assert not np.array_equal(
        layers.get_all_params(new)[0].get_value(), pretrained.input_layer.input_layer.W.get_value()
    )
    report = layers.load_params(new, path, strict=False)
    assert report.missing == ["new_head.W", "new_head.b"] and report.unexpected == ["old_head.W", "old_head.b"]
    np.testing.assert_array_equal(values_of(new)[0], values_of(pretrained)[0])
    np.testing.assert_array_equal(new.W.get_value(), before)  # the new head keeps its initial values


def test_a_shape_mismatch_names_the_parameter_and_its_layer(tmp_path):
    path = tmp_path / "net.npz"
    layers.save_params(head(body(), 3, "out"), path)
    with pytest.raises(
        ShapeError,
        match=r"conv.W in .* has shape \(4, 1, 3, 3\) but parameter conv.W of Conv2DLayer 'conv' has shape \(8, 1, 3, 3\)",
    ):
        layers.load_params(head(body(channels=8), 3, "out"), path, strict=False)


def test_load_weights_reads_our_npz_and_zoo_pickles_into_dicts_of_layers(tmp_path):
    source = head(body(), 3, "out")
    npz, pkl = tmp_path / "net.npz", tmp_path / "net.pkl"
    layers.save_params(source, npz)
    save_lasagne_pickle(pkl, {"param values": values_of(source), "synset words": ["a", "b", "c"]})
    for path, extra in ((npz, {}), (pkl, {"synset words": ["a", "b", "c"]})):
        pool = body()
        net = {"input": layers.get_all_layers(pool)[0], "pool": pool, "out": head(pool, 3, "out")}
        assert network_outputs(net) is net["out"]
        assert load_weights(net, path) == extra
        for a, b in zip(values_of(net["out"]), values_of(source)):
            np.testing.assert_array_equal(a, b)
    renamed = head(body(name="conv_renamed"), 3, "out")
    with pytest.raises(ValueError, match="missing conv_renamed.W"):
        load_weights(renamed, npz)
    assert load_weights(renamed, pkl)  # a zoo pickle loads by position, whatever the names
