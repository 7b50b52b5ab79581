"""VGG16 and VGG19 as Lasagne Recipes' model zoo builds them, and the zoo's image preprocessing.

The networks are dicts of layers named as in the zoo (``input``, ``conv1_1`` ... ``pool5``,
``fc6``, ``fc6_dropout``, ``fc7``, ``fc7_dropout``, ``fc8``, ``prob``), so code written for
``modelzoo/vgg19.py`` runs unchanged, and ``set_all_param_values(net['prob'], model['param values'])``
takes the zoo's arrays in order (32 for VGG16, 38 for VGG19).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl import nonlinearities
from symdl.config import config
from symdl.layers import (
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    InputLayer,
    Layer,
    NonlinearityLayer,
    Pool2DLayer,
)

__all__ = ["vgg16", "vgg19", "preprocess_vgg", "VGG_MEAN_BGR", "param_shapes"]

#: The mean pixel the zoo's VGG files carry as ``'mean value'``, in BGR order (ImageNet's).
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

_FILTERS = (64, 128, 256, 512, 512)
_CONVS_PER_BLOCK = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def param_shapes(depth: int, num_classes: int = 1000) -> list[tuple[str, tuple[int, ...]]]:
    """``(parameter name, shape)`` of VGG-``depth`` in the zoo's order, without building it.

    >>> shapes = param_shapes(19)
    >>> len(shapes), shapes[0], shapes[-1]
    (38, ('conv1_1.W', (64, 3, 3, 3)), ('fc8.b', (1000,)))
    """
    shapes: list[tuple[str, tuple[int, ...]]] = []
    channels = 3
    for block, (filters, convs) in enumerate(zip(_FILTERS, _CONVS_PER_BLOCK[depth]), start=1):
        for k in range(1, convs + 1):
            shapes += [(f"conv{block}_{k}.W", (filters, channels, 3, 3)), (f"conv{block}_{k}.b", (filters,))]
            channels = filters
    units = channels * 7 * 7
    for name, out in (("fc6", 4096), ("fc7", 4096), ("fc8", num_classes)):
        shapes += [(f"{name}.W", (units, out)), (f"{name}.b", (out,))]
        units = out
    return shapes


def _build(depth: int, input_var: Any, batch_size: int | None, weights: Any) -> dict[str, Layer]:
    values: list[Any] | None = None
    if weights is not None:
        from symdl.models.zoo import zoo_param_values

        values = zoo_param_values(weights, f"vgg{depth}", param_shapes(depth))
    # Each parameter comes from the zoo's array when given, else from the layers' default initializer.
    specs = iter(values) if values is not None else None

    def param() -> dict[str, Any]:
        return {} if specs is None else {"W": next(specs), "b": next(specs)}

    net: dict[str, Layer] = {}
    net["input"] = layer = InputLayer((batch_size, 3, 224, 224), input_var=input_var, name="input")
    for block, (filters, convs) in enumerate(zip(_FILTERS, _CONVS_PER_BLOCK[depth]), start=1):
        for k in range(1, convs + 1):
            name = f"conv{block}_{k}"
            # The zoo's weights were trained as cross-correlations (Caffe, cuDNN): flip_filters=False.
            net[name] = layer = Conv2DLayer(layer, filters, 3, pad=1, flip_filters=False, name=name, **param())
        net[f"pool{block}"] = layer = Pool2DLayer(layer, 2, mode="max", name=f"pool{block}")
    net["fc6"] = DenseLayer(layer, 4096, name="fc6", **param())
    net["fc6_dropout"] = DropoutLayer(net["fc6"], p=0.5, name="fc6_dropout")
    net["fc7"] = DenseLayer(net["fc6_dropout"], 4096, name="fc7", **param())
    net["fc7_dropout"] = DropoutLayer(net["fc7"], p=0.5, name="fc7_dropout")
    net["fc8"] = DenseLayer(net["fc7_dropout"], 1000, nonlinearity=None, name="fc8", **param())
    net["prob"] = NonlinearityLayer(net["fc8"], nonlinearities.softmax, name="prob")
    return net


def vgg16(input_var: Any = None, batch_size: int | None = None, weights: Any = None) -> dict[str, Layer]:
    """VGG-16 ("configuration D" of Simonyan and Zisserman) as the zoo's ``modelzoo/vgg16.py``.

    Thirteen 3x3 convolutions (pad 1, ``flip_filters=False``, ReLU) in five blocks, each block
    followed by 2x2 max pooling, then dense layers of 4096, 4096 and 1000 units (dropout 0.5
    between them) and a softmax, on ``(batch, 3, 224, 224)`` BGR images with the mean pixel
    subtracted (:func:`preprocess_vgg`).

    Parameters
    ----------
    input_var : symbolic 4-d tensor, optional
        The input layer's variable (a new one when None).
    batch_size : int, optional
        A fixed batch size for the input shape (``None``: any).
    weights : str, path or list of arrays, optional
        The zoo's ``vgg16.pkl`` (or our ``.npz`` of it), or its 32 ``'param values'``; the
        layers then take these arrays instead of drawing random initial values (faster, and
        half the memory of building then loading).

    Returns
    -------
    dict of str to Layer
        The layers by the zoo's names; ``net['prob']`` is the output, ``net['pool5']`` the last
        convolutional block (where a new head goes for transfer learning).

    Examples
    --------
    >>> from symdl.models import vgg16, param_shapes
    >>> shapes = param_shapes(16)                 # what vgg16() creates, without building it
    >>> len(shapes), shapes[-6:-4]
    (32, [('fc6.W', (25088, 4096)), ('fc6.b', (4096,))])
    """
    return _build(16, input_var, batch_size, weights)


def vgg19(input_var: Any = None, batch_size: int | None = None, weights: Any = None) -> dict[str, Layer]:
    """VGG-19 ("configuration E") as the zoo's ``modelzoo/vgg19.py``: VGG-16 with a fourth
    convolution in blocks 3, 4 and 5 (``conv3_4``, ``conv4_4``, ``conv5_4``); 38 parameter
    arrays, 143.7 million values. Parameters as :func:`vgg16`.

    Examples
    --------
    >>> import numpy as np
    >>> from symdl.models import param_shapes
    >>> [name for name, _ in param_shapes(19) if name.startswith('conv5') and name.endswith('W')]
    ['conv5_1.W', 'conv5_2.W', 'conv5_3.W', 'conv5_4.W']
    >>> sum(int(np.prod(shape)) for _, shape in param_shapes(19))
    143667240
    """
    return _build(19, input_var, batch_size, weights)


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of linear interpolation from ``n_in`` samples to ``n_out``,
    with pixel centres aligned; when shrinking, the triangle filter widens with the scale so
    every input pixel contributes (antialiasing, as skimage's resize does by default)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    weights = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centres[:, None]) / support)
    # Near the borders some taps fall outside the image: renormalise (edge pixels count more).
    return weights / weights.sum(axis=1, keepdims=True)


def _resize_and_crop(image: np.ndarray, short_side: int, crop: int) -> np.ndarray:
    rows, cols = image.shape[:2]
    if rows <= cols:
        new_rows, new_cols = short_side, max(crop, int(cols * short_side / rows))
    else:
        new_rows, new_cols = max(crop, int(rows * short_side / cols)), short_side
    resized = np.tensordot(_resize_matrix(rows, new_rows), image, axes=(1, 0))  # (new_rows, cols, 3)
    resized = np.tensordot(resized, _resize_matrix(cols, new_cols), axes=(1, 1)).transpose(0, 2, 1)
    top, left = (new_rows - crop) // 2, (new_cols - crop) // 2
    return resized[top : top + crop, left : left + crop]


def preprocess_vgg(
    images: np.ndarray | Sequence[np.ndarray],
    mean: Any = VGG_MEAN_BGR,
    short_side: int = 256,
    crop: int = 224,
) -> np.ndarray:
    """Turn RGB images into VGG's input, as the zoo's notebooks do: scale the shorter side to
    ``short_side`` (aspect ratio kept), take the central ``crop`` x ``crop`` square, move the
    channels first, reorder RGB to BGR and subtract the mean pixel.

    Parameters
    ----------
    images : array or list of arrays
        One ``(rows, cols, 3)`` image, a ``(N, rows, cols, 3)`` batch or a list of images of
        any sizes, RGB with values in 0..255 (uint8 or float; a float image in [0, 1], as
        ``matplotlib.pyplot.imread`` gives for PNG files, is scaled to 0..255). A grey
        ``(rows, cols)`` image is repeated over the three channels, an alpha channel dropped.
    mean : array
        The BGR mean pixel (``(3,)``, the zoo's ``'mean value'``) or mean image (``(3, crop,
        crop)``, the ``'mean image'`` of older zoo files) to subtract.
    short_side, crop : int
        The size the shorter side is scaled to, and the side of the central square kept.
        ``short_side=crop`` keeps the whole of a square image.

    Returns
    -------
    float32 array of shape (N, 3, crop, crop)

    Examples
    --------
    >>> import numpy as np
    >>> from symdl.models import preprocess_vgg
    >>> rgb = np.zeros((300, 400, 3), np.uint8)
    >>> rgb[..., 0] = 255                      # pure red
    >>> x = preprocess_vgg(rgb)
    >>> x.shape, x.dtype
    ((1, 3, 224, 224), dtype('float32'))
    >>> x[0, :, 100, 100].round(3).tolist()    # BGR: red is the last channel
    [-103.939, -116.779, 131.32]
    """
    if isinstance(images, np.ndarray) and images.ndim in (2, 3):
        batch: Sequence[np.ndarray] = [images]
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        batch = list(images)
    else:
        batch = list(images)
    if crop > short_side:
        raise ValueError(f"preprocess_vgg: crop={crop} does not fit in a shorter side of {short_side}")
    mean = np.asarray(mean, dtype=np.float32)
    if mean.shape not in ((3,), (3, crop, crop)):
        raise ValueError(f"preprocess_vgg: mean must have shape (3,) or (3, {crop}, {crop}), got {mean.shape}")
    out = np.empty((len(batch), 3, crop, crop), dtype=config.floatX)
    for n, image in enumerate(batch):
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"preprocess_vgg: image {n} has shape {image.shape}; expected (rows, cols, 3) RGB")
        rgb = image[:, :, :3].astype(np.float64)
        if image.dtype.kind == "f" and rgb.size and rgb.max() <= 1.0:
            rgb *= 255.0
        square = _resize_and_crop(rgb, short_side, crop)
        out[n] = square.transpose(2, 0, 1)[::-1] - (mean[:, None, None] if mean.ndim == 1 else mean)
    return out
