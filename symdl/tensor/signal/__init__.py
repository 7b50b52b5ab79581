"""Theano's ``theano.tensor.signal``: pooling under the module path Theano programs import
(``from theano.tensor.signal.pool import pool_2d``); the ops live in ``symdl.tensor.nnet``."""

from symdl.tensor.signal import pool

__all__ = ["pool"]
