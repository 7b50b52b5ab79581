"""Pretrained networks: the VGG networks of Lasagne Recipes' model zoo, reading and writing the
zoo's pickles, loading weights, and the zoo's image preprocessing.

The talk's workflow (see docs/transfer.md): build VGG19, load the zoo's ``vgg19.pkl``, keep the
convolutional layers, put a new head on ``net['pool5']``, train the head, then fine-tune all.

>>> from symdl import layers
>>> from symdl.models import vgg19
>>> net = vgg19()
>>> head = layers.DenseLayer(net['pool5'], 10, name='new_head')
>>> net['pool5'].output_shape, layers.count_params(net['prob'])
((None, 512, 7, 7), 143667240)
>>> layers.set_trainable(net['pool5'], False)          # the pretrained layers stay as they are
>>> [p.name for p in layers.get_all_params(head, trainable=True)]
['new_head.W', 'new_head.b']
"""

from symdl.models.vgg import VGG_MEAN_BGR, param_shapes, preprocess_vgg, vgg16, vgg19
from symdl.models.zoo import load_lasagne_pickle, load_weights, network_outputs, save_lasagne_pickle

__all__ = [
    "VGG_MEAN_BGR",
    "load_lasagne_pickle",
    "load_weights",
    "network_outputs",
    "param_shapes",
    "preprocess_vgg",
    "save_lasagne_pickle",
    "vgg16",
    "vgg19",
]
