"""Reading and writing the pickles of Lasagne Recipes' model zoo, and loading weights into a
network from either a zoo pickle or symdl's own ``.npz`` (:func:`symdl.layers.save_params`).

The zoo's files (``vgg16.pkl``, ``vgg19.pkl``, ...) were written by Python 2: a dict with the
parameter arrays under ``'param values'`` (``'values'`` in the oldest files), the class names
under ``'synset words'`` and the mean pixel under ``'mean value'`` (or a ``'mean image'``).
Python 3 reads them with ``encoding='latin1'``, which :func:`load_lasagne_pickle` does, through
an unpickler that only builds arrays, strings, numbers, lists and dicts (a pickle can otherwise
run any code).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symdl.errors import ShapeError
from symdl.layers import Layer, get_all_layers, get_all_params, load_params, set_all_param_values
from symdl.layers.base import MergeLayer

__all__ = ["load_lasagne_pickle", "save_lasagne_pickle", "load_weights", "zoo_param_values", "network_outputs"]

ZOO_URL = "https://s3.amazonaws.com/lasagne/recipes/pretrained/imagenet/"
_KNOWN_LAYOUTS = {32: "VGG-16", 38: "VGG-19"}
_ZIP_MAGIC = b"PK\x03\x04"

try:  # NumPy 2 renamed numpy.core to numpy._core; old pickles name the old module.
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

# What a zoo pickle may build: arrays, dtypes and NumPy scalars (plus the way Python 3 pickles
# bytes at protocol 2, and ordered dicts). Anything else is refused unless trusted=True.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("codecs").encode,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
}


class _ZooUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self.path}: the pickle wants to build {module}.{name}, which a model zoo file never holds; "
                "if you trust the file, pass trusted=True"
            ) from None


def load_lasagne_pickle(path: str | os.PathLike, trusted: bool = False) -> dict[str, Any]:
    """Read a pickle of Lasagne Recipes' model zoo (``vgg19.pkl`` and the like) as published.

    The files are Python 2 pickles: they are opened in binary mode and read with
    ``encoding='latin1'`` (so the arrays' bytes come back intact), and only arrays, strings,
    numbers, lists and dicts may be built (``trusted=True`` lifts that guard, for a file you
    made yourself with other objects in it).

    Parameters
    ----------
    path : str or path
        The ``.pkl`` file.
    trusted : bool
        Allow any object in the pickle (a pickle can run arbitrary code when loaded).

    Returns
    -------
    dict
        The file's dict: ``'param values'`` (a list of arrays in ``get_all_params`` order),
        ``'synset words'`` (the class names) and ``'mean value'`` (the BGR mean pixel), or
        ``'values'`` and ``'mean image'`` in the older files, as stored.

    Raises
    ------
    FileNotFoundError
        The file is missing (the message says where the zoo's files are).
    ValueError
        The file is truncated or not a pickle, or holds no list of arrays under
        ``'param values'``/``'values'``.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from symdl.models import save_lasagne_pickle, load_lasagne_pickle
    >>> path = os.path.join(tempfile.mkdtemp(), 'tiny.pkl')
    >>> save_lasagne_pickle(path, {'param values': [np.ones((2, 3), 'float32')], 'synset words': ['cat', 'dog']})
    >>> model = load_lasagne_pickle(path)
    >>> model['param values'][0].shape, model['synset words']
    ((2, 3), ['cat', 'dog'])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist. The model zoo's files are at {ZOO_URL} (vgg16.pkl, vgg19.pkl, ...); "
            "symdl never downloads them itself"
        )
    size = path.stat().st_size
    with open(path, "rb") as f:
        try:
            model = pickle.Unpickler(f, encoding="latin1").load() if trusted else _ZooUnpickler(f, path).load()
        except (EOFError, pickle.UnpicklingError, ValueError, struct.error, MemoryError) as exc:
            if "trusted=True" in str(exc):
                raise
            raise ValueError(
                f"{path}: cannot read the pickle ({type(exc).__name__}: {exc}); at {size:,} bytes the file is "
                "truncated (an interrupted download?) or not a model zoo pickle"
            ) from exc
    if not isinstance(model, Mapping):
        raise ValueError(f"{path}: a model zoo pickle holds a dict, this one a {type(model).__name__}")
    values = _values_of(model, path)
    for k, value in enumerate(values):
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: parameter value {k} is a {type(value).__name__}, not a NumPy array")
    return dict(model)


def _values_of(model: Mapping[str, Any], origin: Any) -> list[np.ndarray]:
    for key in ("param values", "values"):
        if key in model:
            values = model[key]
            if not isinstance(values, list | tuple):
                raise ValueError(f"{origin}: {key!r} holds a {type(values).__name__}, expected a list of arrays")
            return list(values)
    raise ValueError(f"{origin}: no 'param values' (nor 'values') in the pickle; its keys are {sorted(model)}")


class _Py2String:
    """Bytes to pickle as a Python 2 ``str`` (opcode BINSTRING), which Python 3 reads back as
    text with ``encoding='latin1'`` and NumPy turns back into the same bytes."""

    def __init__(self, data: Any):
        self.data = memoryview(data).cast("B")


class _Global:
    """A global reference pickled under the given module and name (the names Python 2's NumPy
    wrote, whatever this NumPy's module names are)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # the pickler insists that a reduce function be callable
        raise TypeError(f"{self.module}.{self.name} is only a name to pickle")


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Protocol 2 as Python 2 wrote it: text and array data as ``str`` (BINSTRING), arrays through
    ``numpy.core.multiarray._reconstruct``. The pure-Python pickler, so that the dispatch table
    can be extended; array data is written straight from the array's buffer, without copies."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_string(self, obj: _Py2String) -> None:
        n = obj.data.nbytes
        if n >= 2**31:
            raise ValueError(f"save_lasagne_pickle: an array of {n:,} bytes is too large for a Python 2 pickle")
        self.write(pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n))
        self.write(obj.data)

    def save_global_name(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))

    def save_text(self, obj: str) -> None:
        if obj.isascii():
            self.save_py2_string(_Py2String(obj.encode("ascii")))
        else:
            self.save_str(obj)  # a Python 2 unicode string

    dispatch[_Py2String] = save_py2_string
    dispatch[_Global] = save_global_name
    dispatch[str] = save_text

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise TypeError("save_lasagne_pickle: arrays of Python objects are not supported")
            array = np.ascontiguousarray(obj)
            state = (1, tuple(array.shape), array.dtype, False, _Py2String(array.reshape(-1).view(np.uint8)))
            return (_Global("numpy.core.multiarray", "_reconstruct"), (_Global("numpy", "ndarray"), (0,), "b"), state)
        if isinstance(obj, np.dtype):
            if obj.fields is not None or obj.subdtype is not None:
                raise TypeError(f"save_lasagne_pickle: structured dtypes are not supported ({obj})")
            # dtype.str is the byte order then the code: '<f4', '|u1', '<U3'. Flexible kinds (byte and
            # text strings) carry their item size and alignment in the state, fixed ones -1.
            sizes = {"S": (obj.itemsize, 1), "U": (obj.itemsize, 4)}.get(obj.kind, (-1, -1))
            if obj.kind not in "biufcSU":
                raise TypeError(f"save_lasagne_pickle: arrays of dtype {obj} are not supported")
            return (_Global("numpy", "dtype"), (obj.str[1:], 0, 1), (3, obj.str[0], None, None, None, *sizes, 0))
        if isinstance(obj, np.generic):
            return (_Global("numpy.core.multiarray", "scalar"), (obj.dtype, _Py2String(np.asarray(obj).tobytes())))
        return NotImplemented


def save_lasagne_pickle(path: str | os.PathLike, model: Mapping[str, Any]) -> None:
    """Write ``model`` (a dict such as ``{'param values': [...], 'synset words': [...], 'mean
    value': ...}``) as the model zoo's files are written: a protocol 2 pickle in Python 2's
    layout (text and array data as Python 2 ``str``), which Python 2 reads with a plain
    ``pickle.load`` and Python 3 with ``encoding='latin1'`` (:func:`load_lasagne_pickle`).

    Use it to share a fine-tuned network with code written for the zoo, or to make test files.
    Values are written as they are (float32 parameters stay float32).

    >>> import io, pickle, numpy as np
    >>> from symdl.models import save_lasagne_pickle
    >>> buffer = io.BytesIO()
    >>> save_lasagne_pickle(buffer, {'param values': [np.arange(3, dtype='float32')]})
    >>> buffer.getvalue()[:2]   # protocol 2
    b'\\x80\\x02'
    >>> pickle.loads(buffer.getvalue(), encoding='latin1')['param values'][0]
    array([0., 1., 2.], dtype=float32)
    """
    if isinstance(path, io.IOBase):
        _Py2Pickler(path, protocol=2).dump(dict(model))
        return
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(dict(model))
    os.replace(tmp, path)  # a reader never sees half a file


def network_outputs(network: Layer | Sequence[Layer] | Mapping[str, Layer]) -> Layer | list[Layer]:
    """The output layer(s) of a network given as a layer, a list of layers or a dict of layers
    (such as :func:`~symdl.models.vgg19` returns): for a dict, the layers no other layer of
    the dict feeds (``net['prob']`` for the zoo's networks)."""
    if not isinstance(network, Mapping):
        return network  # type: ignore[return-value]
    layers = list(network.values())
    fed: set[Layer] = set()
    for layer in get_all_layers(layers):
        # Lasagne's InputLayer has no input_layer attribute
        fed.update(layer.input_layers if isinstance(layer, MergeLayer) else [getattr(layer, "input_layer", None)])
    outputs = [layer for layer in layers if layer not in fed]
    return outputs[0] if len(outputs) == 1 else outputs


def _describe(count: int) -> str:
    layout = _KNOWN_LAYOUTS.get(count)
    return f"{count} ({layout}'s layout)" if layout else str(count)


def zoo_param_values(weights: Any, model: str, shapes: Sequence[tuple[str, tuple[int, ...]]]) -> list[np.ndarray]:
    """The parameter arrays of ``weights`` (a zoo pickle, our ``.npz``, or a list of arrays),
    checked against ``shapes`` (``(parameter name, shape)`` in order) of the network ``model``;
    errors name the parameter's layer."""
    origin = "the given values"
    if isinstance(weights, str | os.PathLike):
        origin = str(weights)
        with open(weights, "rb") as f:
            is_npz = f.read(4) == _ZIP_MAGIC
        if is_npz:
            with np.load(weights) as data:
                names = list(data.files)
                if names == [f"arr_{k}" for k in range(len(names))]:
                    values = [data[name] for name in names]
                else:
                    missing = [name for name, _ in shapes if name not in names]
                    if missing:
                        raise ValueError(f"{origin}: no values for {', '.join(missing[:5])} of {model}")
                    values = [data[name] for name, _ in shapes]
        else:
            values = _values_of(load_lasagne_pickle(weights), origin)
    elif isinstance(weights, Mapping):
        values = _values_of(weights, origin)
    else:
        values = list(weights)
    if len(values) != len(shapes):
        raise ValueError(
            f"{origin}: {_describe(len(values))} parameter arrays, but {model} has {_describe(len(shapes))}; "
            "is this the file of another network?"
        )
    for k, ((name, shape), value) in enumerate(zip(shapes, values)):
        if tuple(np.shape(value)) != tuple(shape):
            layer = name.rsplit(".", 1)[0]
            raise ShapeError(
                f"{origin}: array {k} has shape {tuple(np.shape(value))} but {name} (layer {layer!r} of {model}) "
                f"has shape {tuple(shape)}"
            )
    return [np.asarray(v) for v in values]


def load_weights(
    network: Layer | Sequence[Layer] | Mapping[str, Layer], path: str | os.PathLike, strict: bool = True
) -> dict[str, Any]:
    """Load parameter values into ``network`` from a model zoo pickle or from our ``.npz``.

    The format is recognised from the file's content: an ``.npz`` written by
    :func:`symdl.layers.save_params` loads by parameter name (``strict=False`` loads the
    names that match and leaves the rest, see :func:`symdl.layers.load_params`); a zoo pickle
    loads in ``get_all_params`` order, after checking the count and every shape.

    Parameters
    ----------
    network : Layer, list of layers or dict of layers
        The network (for a dict such as :func:`~symdl.models.vgg19` returns, its output layers).
    path : str or path
        The file.
    strict : bool
        For an ``.npz``: every parameter must be found, and nothing else be in the file.

    Returns
    -------
    dict
        What else the file holds (a zoo pickle's ``'synset words'`` and ``'mean value'``;
        nothing for an ``.npz``).

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from symdl import layers
    >>> from symdl.models import save_lasagne_pickle, load_weights
    >>> net = layers.DenseLayer(layers.InputLayer((None, 3)), 2, name='fc')
    >>> path = os.path.join(tempfile.mkdtemp(), 'fc.pkl')
    >>> save_lasagne_pickle(path, {'param values': [np.ones((3, 2), 'float32'), np.zeros(2, 'float32')],
    ...                            'synset words': ['yes', 'no']})
    >>> load_weights(net, path)
    {'synset words': ['yes', 'no']}
    >>> net.W.get_value().sum()
    np.float32(6.0)
    >>> load_weights(layers.DenseLayer(layers.InputLayer((None, 4)), 2, name='wide'), path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symdl.errors.ShapeError: ...fc.pkl: array 0 has shape (3, 2) but wide.W (layer 'wide', DenseLayer) has shape (4, 2)
    """
    outputs = network_outputs(network)
    with open(path, "rb") as f:
        is_npz = f.read(4) == _ZIP_MAGIC
    if is_npz:
        load_params(outputs, path, strict=strict)
        return {}
    model = load_lasagne_pickle(path)
    values = _values_of(model, path)
    params = get_all_params(outputs)
    if len(values) != len(params):
        raise ValueError(
            f"{path}: {_describe(len(values))} parameter arrays, but the network has {_describe(len(params))} "
            "parameters; is this the file of another network? (To load the first k, build the network the file "
            "was made for, or use set_all_param_values(part, values[:k]).)"
        )
    owners = {p: layer for layer in get_all_layers(outputs) for p in layer.params}
    for k, (param, value) in enumerate(zip(params, values)):
        expected = param.get_value(borrow=True).shape
        if value.shape != expected:
            layer = owners[param]
            raise ShapeError(
                f"{path}: array {k} has shape {value.shape} but {param.name or 'parameter ' + str(k)} "
                f"(layer {layer.name!r}, {type(layer).__name__}) has shape {expected}"
            )
    set_all_param_values(outputs, values)
    return {key: value for key, value in model.items() if key not in ("param values", "values")}
