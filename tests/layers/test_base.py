"""Layer and MergeLayer: duck-typed inputs, parameters from specs and expressions, tags, shapes."""

from unittest.mock import Mock

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers


def test_a_layer_takes_anything_with_an_output_shape_or_a_shape():
    incoming = Mock(output_shape=(None, 3))
    layer = layers.Layer(incoming)
    assert layer.input_layer is incoming and layer.input_shape == (None, 3)
    for shape in ((None, 20), [None, 20]):
        layer = layers.Layer(shape)
        assert layer.input_layer is None and layer.input_shape == (None, 20)
    merge = layers.MergeLayer([(None, 2), incoming])
    assert merge.input_layers == [None, incoming] and merge.input_shapes == [(None, 2), (None, 3)]


def test_non_positive_input_sizes_raise():
    for shape in ((None, -1), (None, 0)):
        with pytest.raises(ValueError, match="non-positive input shape"):
            layers.Layer(Mock(output_shape=shape))
    layers.Layer(Mock(output_shape=(None, 1)))


def test_a_symbolic_output_shape_raises():
    class Wrong(layers.Layer):
        def get_output_shape_for(self, input_shape):
            return T.vector().shape

    class WrongMerge(layers.MergeLayer):
        def get_output_shape_for(self, input_shapes):
            return (None, T.vector().shape[0])

    for layer in (Wrong((None,)), WrongMerge([(None,)])):
        with pytest.raises(ValueError, match="symbolic output shape"):
            _ = layer.output_shape
        assert "Wrong" in repr(layer)  # repr still works


def test_params_are_tagged_and_named_after_the_layer():
    layer = layers.Layer((None, 4), name="lay")
    a = layer.add_param(np.zeros((2, 3)), (2, 3), name="A", tag1=True, tag2=False)
    b = layer.add_param(np.zeros(3), (3,), name="B", tag1=True, tag2=True, trainable=False)
    c = layer.add_param(np.zeros(1), (1,), tag2=True)
    assert a.name == "lay.A" and c.name is None
    assert layer.get_params() == [a, b, c]
    assert layer.get_params(tag1=True) == [a, b] and layer.get_params(tag1=False) == [c]
    assert layer.get_params(tag1=True, tag2=True) == [b]
    assert layer.get_params(trainable=True) == [a, c] and layer.params[b] == {"tag1", "tag2", "regularizable"}


def test_params_given_as_expressions_unwrap_to_their_shared_variables():
    layer = layers.Layer((None,))
    x, y, z = (symdl.shared(1.0, name=n) for n in "xyz")
    w1 = layer.add_param(x**2 + T.log(y), (), tag1=True)
    w2 = layer.add_param(T.matrix(), (10, 10), tag1=True)
    w3 = layer.add_param(z.T, (), tag2=True)
    assert list(layer.params) == [w1, w2, w3]
    assert layer.get_params() == [x, y, z]
    assert layer.get_params(tag1=True) == [x, y] and layer.get_params(tag2=True) == [z]
    assert layer.get_params(unwrap_shared=False, tag1=True) == [w1, w2]


def test_get_output_for_and_merge_shapes_are_not_implemented_in_the_base_classes():
    with pytest.raises(NotImplementedError):
        layers.Layer((None,)).get_output_for(T.vector())
    merge = layers.MergeLayer([(None,), (None,)])
    with pytest.raises(NotImplementedError):
        merge.get_output_shape_for([(None,), (None,)])
    with pytest.raises(NotImplementedError):
        merge.get_output_for([T.vector(), T.vector()])


def test_input_layer_has_no_input_layer_so_a_mock_of_it_ends_the_walk():
    l_in = layers.InputLayer((None, 3))
    assert not hasattr(l_in, "input_layer") and l_in.get_params() == []
    # A Mock with the attributes of an InputLayer (as Lasagne's tests make) has no input_layer
    # either; with one, each Mock's input_layer would be a new Mock, an endless chain.
    mock_in = Mock(l_in, output_shape=(None, 3))
    assert layers.get_all_layers(layers.Layer(mock_in))[0] is mock_in


def test_input_layer_checks_its_variable():
    with pytest.raises(ValueError, match="4 dimensions"):
        layers.InputLayer((3, 2), T.tensor4())
    with pytest.raises(ValueError, match="static shape"):
        layers.InputLayer((3, 2), T.matrix(shape=(4, 2)))
    assert layers.InputLayer([1, None]).input_var.broadcastable == (True, False)
