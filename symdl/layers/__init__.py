"""Lasagne-style layers: build a network from layer objects, then get its output as an ordinary
symbolic expression to mix with your own maths, losses and updates.

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl import layers, nonlinearities, objectives, updates
>>> l_in = layers.InputLayer((None, 1, 8, 8))
>>> l_hid = layers.DenseLayer(l_in, num_units=32)
>>> net = layers.DenseLayer(l_hid, num_units=10, nonlinearity=nonlinearities.softmax)
>>> y = T.ivector('y')
>>> loss = objectives.categorical_crossentropy(layers.get_output(net), y).mean()
>>> params = layers.get_all_params(net, trainable=True)
>>> train = symdl.function([l_in.input_var, y], loss, updates=updates.sgd(loss, params, 0.1))
>>> float(train(np.zeros((4, 1, 8, 8), 'float32'), np.zeros(4, 'int32'))) > 0
True
>>> layers.count_params(net)
2410
"""

from symdl.layers.base import Layer, MergeLayer, create_param
from symdl.layers.conv import (
    BaseConvLayer,
    Conv1DLayer,
    Conv2DLayer,
    Conv3DLayer,
    Deconv2DLayer,
    Deconv3DLayer,
    DilatedConv2DLayer,
    TransposedConv2DLayer,
    TransposedConv3DLayer,
    conv_input_length,
    conv_output_length,
)
from symdl.layers.dense import DenseLayer, NINLayer
from symdl.layers.embedding import EmbeddingLayer
from symdl.layers.helper import (
    count_params,
    get_all_layers,
    get_all_param_values,
    get_all_params,
    get_output,
    get_output_shape,
    load_params,
    save_params,
    set_all_param_values,
    set_trainable,
)
from symdl.layers.input import InputLayer
from symdl.layers.local import LocallyConnected2DLayer
from symdl.layers.merge import (
    ConcatLayer,
    ElemwiseMergeLayer,
    ElemwiseSumLayer,
    autocrop,
    autocrop_array_shapes,
    concat,
)
from symdl.layers.noise import (
    DropoutLayer,
    GaussianNoiseLayer,
    dropout,
    dropout_channels,
    dropout_locations,
    spatial_dropout,
)
from symdl.layers.normalization import (
    BatchNormLayer,
    LocalResponseNormalization2DLayer,
    StandardizationLayer,
    batch_norm,
    instance_norm,
    layer_norm,
)
from symdl.layers.pool import (
    FeaturePoolLayer,
    FeatureWTALayer,
    GlobalPoolLayer,
    MaxPool1DLayer,
    MaxPool2DLayer,
    MaxPool3DLayer,
    Pool1DLayer,
    Pool2DLayer,
    Pool3DLayer,
    SpatialPyramidPoolingLayer,
    Upscale1DLayer,
    Upscale2DLayer,
    Upscale3DLayer,
    pool_output_length,
)
from symdl.layers.recurrent import CustomRecurrentLayer, Gate, GRULayer, LSTMLayer, RecurrentLayer
from symdl.layers.shape import (
    DimshuffleLayer,
    FlattenLayer,
    PadLayer,
    ReshapeLayer,
    SliceLayer,
    dimshuffle,
    flatten,
    pad,
    reshape,
)
from symdl.layers.special import (
    BiasLayer,
    ExpressionLayer,
    InverseLayer,
    NonlinearityLayer,
    ParametricRectifierLayer,
    RandomizedRectifierLayer,
    ScaleLayer,
    TPSTransformerLayer,
    TransformerLayer,
    prelu,
    rrelu,
    standardize,
)

__all__ = [
    "BaseConvLayer",
    "BatchNormLayer",
    "BiasLayer",
    "ConcatLayer",
    "Conv1DLayer",
    "Conv2DLayer",
    "Conv3DLayer",
    "CustomRecurrentLayer",
    "Deconv2DLayer",
    "Deconv3DLayer",
    "DenseLayer",
    "DilatedConv2DLayer",
    "DimshuffleLayer",
    "DropoutLayer",
    "ElemwiseMergeLayer",
    "ElemwiseSumLayer",
    "EmbeddingLayer",
    "ExpressionLayer",
    "FeaturePoolLayer",
    "FeatureWTALayer",
    "FlattenLayer",
    "GRULayer",
    "Gate",
    "GaussianNoiseLayer",
    "GlobalPoolLayer",
    "InputLayer",
    "InverseLayer",
    "LSTMLayer",
    "Layer",
    "LocalResponseNormalization2DLayer",
    "LocallyConnected2DLayer",
    "MaxPool1DLayer",
    "MaxPool2DLayer",
    "MaxPool3DLayer",
    "MergeLayer",
    "NINLayer",
    "NonlinearityLayer",
    "PadLayer",
    "ParametricRectifierLayer",
    "Pool1DLayer",
    "Pool2DLayer",
    "Pool3DLayer",
    "RandomizedRectifierLayer",
    "RecurrentLayer",
    "ReshapeLayer",
    "ScaleLayer",
    "SliceLayer",
    "SpatialPyramidPoolingLayer",
    "StandardizationLayer",
    "TPSTransformerLayer",
    "TransformerLayer",
    "TransposedConv2DLayer",
    "TransposedConv3DLayer",
    "Upscale1DLayer",
    "Upscale2DLayer",
    "Upscale3DLayer",
    "autocrop",
    "autocrop_array_shapes",
    "batch_norm",
    "concat",
    "conv_input_length",
    "conv_output_length",
    "count_params",
    "create_param",
    "dimshuffle",
    "dropout",
    "dropout_channels",
    "dropout_locations",
    "flatten",
    "get_all_layers",
    "get_all_param_values",
    "get_all_params",
    "get_output",
    "get_output_shape",
    "instance_norm",
    "layer_norm",
    "load_params",
    "pad",
    "pool_output_length",
    "prelu",
    "reshape",
    "rrelu",
    "save_params",
    "set_all_param_values",
    "set_trainable",
    "spatial_dropout",
    "standardize",
]
