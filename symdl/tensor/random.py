"""Random streams (``symdl.tensor.random``, loaded lazily as ``T.random``): reproducible random
tensors whose generator state advances on every call of a compiled function.

Each draw (``uniform``, ``normal``, ``binomial``, ``bernoulli``, ``choice``, ``permutation``)
makes a shared state variable and a ``RandomVariable`` node ``(state, shape, *params) ->
(new_state, sample)``; the state's ``default_update`` is the new state, so ``symdl.function``
advances it after every call, as Theano's shared random streams.

The generator is Philox-4x32-10 (Salmon et al., SC'11), counter-based, so every backend can
produce the identical sequence from the same state. The contract, exactly:

* **State**: a ``uint64`` vector ``[key, stream, counter]``. ``key`` is the seed (mod 2**64),
  ``stream`` is the draw's index in its ``RandomStream`` (0, 1, ... in order of creation),
  ``counter`` is the number of 128-bit blocks this draw has used so far.
* **Blocks**: block ``j`` of a call is Philox-4x32-10 of the counter words
  ``(c0, c1, c2, c3) = (lo32(counter + j), hi32(counter + j), lo32(stream), hi32(stream))``
  under the key words ``(k0, k1) = (lo32(key), hi32(key))``. Its four output words are words
  ``4j .. 4j + 3`` of the call's word sequence ``w``. A call that uses ``m`` words consumes
  ``ceil(m / 4)`` blocks and returns ``counter + ceil(m / 4)`` as the new counter.
* **Uniform** float32 (and float16, rounded from float32), element ``i``: ``u = (w[i] >> 8) * 2**-24``
  in [0, 1), then ``low + (high - low) * u`` in float32. float64, element ``i``:
  ``u = ((w[2i] >> 5) * 2**26 + (w[2i+1] >> 6)) * 2**-53``, then the same affine map in float64.
* **Normal** (Box-Muller, any dtype): element pair ``(2i, 2i+1)`` uses the 53-bit uniforms
  ``u`` (words ``4i, 4i+1``) and ``v`` (words ``4i+2, 4i+3``) built as above;
  ``r = sqrt(-2 log(1 - u))``, ``z0 = r cos(2 pi v)``, ``z1 = r sin(2 pi v)``, all in float64,
  then ``avg + std * z`` in float64 rounded to the dtype. An odd count drops the last ``z1``.
  (Only this mapping goes through libm; bit equality with another backend needs a correctly
  rounded or identical ``log``/``cos``/``sin``.)
* **Binomial** ``(n, p)``, element ``i``: the number of ``j < n`` with
  ``(w[i*n + j] >> 8) * 2**-24 < p`` (compared in float64, where both sides are exact).
  ``bernoulli(p)`` is ``binomial(1, p)``; dropout masks are bernoulli draws, bit-exact everywhere.
* **Choice** with replacement: element ``i`` is ``min(floor(u_i * a), a - 1)`` with the 53-bit
  uniform ``u_i`` of words ``2i, 2i+1``; with probabilities ``p``: the number of entries of the
  float64 running sum ``cdf = cumsum(p)`` (summed left to right) that are ``<= u_i * cdf[-1]``,
  capped at ``a - 1``. Without replacement: the first ``size`` entries of ``permutation(a)``.
* **Permutation** of ``n``: a stable arg-sort of the ``n`` 64-bit keys
  ``(w[2i] << 32) | w[2i+1]``.

>>> import numpy as np, symdl
>>> from symdl.tensor.random import RandomStream
>>> rng = RandomStream(seed=42)
>>> u = rng.uniform((2, 3))
>>> f = symdl.function([], u)
>>> a, b = f(), f()
>>> a.shape, bool((a != b).all()), bool((a >= 0).all() and (a < 1).all())
((2, 3), True, True)
>>> bool((symdl.function([], RandomStream(seed=42).uniform((2, 3)))() == a).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import describe

# ---------------------------------------------------------------- Philox-4x32-10
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32(counters: np.ndarray, key: Sequence[int], rounds: int = 10) -> np.ndarray:
    """Philox-4x32 of each row of ``counters`` (shape (n, 4), uint32 values) under ``key`` (k0, k1).

    Returns an (n, 4) uint32 array. Arithmetic is done in uint64 so the 32x32-bit products are exact.

    >>> philox4x32(np.zeros((1, 4), np.uint32), (0, 0))[0].tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    True
    """
    c = np.asarray(counters, dtype=np.uint64)
    c0, c1, c2, c3 = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for r in range(rounds):
        if r:
            k0 = (k0 + PHILOX_W0) & 0xFFFFFFFF
            k1 = (k1 + PHILOX_W1) & 0xFFFFFFFF
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ np.uint64(k0),
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ c3 ^ np.uint64(k1),
            p0 & _MASK32,
        )
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def philox_words(state: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """The next ``n_words`` uint32 words of the stream ``state = [key, stream, counter]`` (uint64),
    and the advanced state."""
    key, stream, counter = (int(v) for v in state)
    n_blocks = -(-n_words // 4)
    blocks = (np.uint64(counter) + np.arange(n_blocks, dtype=np.uint64)).astype(np.uint64)
    counters = np.empty((n_blocks, 4), dtype=np.uint64)
    counters[:, 0] = blocks & _MASK32
    counters[:, 1] = blocks >> _SHIFT32
    counters[:, 2] = stream & 0xFFFFFFFF
    counters[:, 3] = stream >> 32
    words = philox4x32(counters, (key & 0xFFFFFFFF, key >> 32)).reshape(-1)[:n_words]
    new_state = np.array([key, stream, (counter + n_blocks) % (1 << 64)], dtype=np.uint64)
    return words, new_state


def uniform24(words: np.ndarray) -> np.ndarray:
    """float32 in [0, 1) from the top 24 bits of each word (exact)."""
    return (words >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def uniform53(words: np.ndarray) -> np.ndarray:
    """float64 in [0, 1) from consecutive word pairs (27 + 26 top bits; exact)."""
    a = (words[0::2] >> np.uint32(5)).astype(np.float64)
    b = (words[1::2] >> np.uint32(6)).astype(np.float64)
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


# ---------------------------------------------------------------- the op
DISTRIBUTIONS = ("uniform", "normal", "binomial", "choice", "choice_p", "choice_noreplace", "permutation")


class RandomVariable(Op):
    """One draw: inputs ``(state, shape, *params)``, outputs ``(new_state, sample)``.

    ``dist`` is one of ``DISTRIBUTIONS``; params: uniform ``(low, high)``, normal ``(avg, std)``,
    binomial ``(p,)`` (with the static trial count ``n``), choice ``(a,)``, choice_p ``(a, p)``,
    choice_noreplace ``(a,)``, permutation ``(n,)`` (its ``shape`` input is ignored: pass ``[]``).
    The mapping from Philox words to samples is the module docstring's.
    """

    view_map = {}

    __props__ = ("dist", "dtype", "n")
    differentiable = False

    def __init__(self, dist: str, dtype: str, n: int = 1):
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {dist!r}; known: {DISTRIBUTIONS}")
        self.dist, self.dtype, self.n = dist, str(np.dtype(dtype)), int(n)
        self.name = f"random_{dist}"

    def make_node(self, state: Any, shape: Any, *params: Any) -> Apply:
        state = as_tensor_variable(state)
        if state.dtype != "uint64" or state.ndim != 1:
            raise TypeMismatch(
                f"{self.name}: the state must be a uint64 vector [key, stream, counter], got {state.type}"
            )
        shape = as_tensor_variable(shape)
        if shape.ndim != 1:
            raise TypeMismatch(f"{self.name}: the shape must be an integer vector, got {shape.type}")
        params = [as_tensor_variable(p) for p in params]
        if self.dist == "permutation":
            out_shape: tuple = (int(params[0].data) if isinstance(params[0], Constant) else None,)
        elif isinstance(shape, Constant):
            out_shape = tuple(int(d) for d in shape.data)
        else:
            if shape.type.shape[0] is None:
                raise ShapeError(f"{self.name}: the number of dimensions of the sample must be known")
            out_shape = (None,) * shape.type.shape[0]
        return Apply(self, [state, shape, *params], [state.type, TensorType(self.dtype, out_shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        state, shape, *params = inputs
        shape = tuple(int(d) for d in shape)
        size = int(np.prod(shape, dtype=np.int64))
        sample, new_state = getattr(self, f"_{self.dist}")(state, shape, size, params)
        return [new_state, np.asarray(sample, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.shape import cast_int64

        if self.dist == "permutation":
            return [list(input_shapes[0]), [cast_int64(node.inputs[2])]]
        n = node.inputs[1].type.shape[0]
        return [list(input_shapes[0]), [node.inputs[1][i] for i in range(n)]]

    def _param(self, value: np.ndarray, shape: tuple, name: str) -> np.ndarray:
        try:
            return np.broadcast_to(value, shape)
        except ValueError:
            raise ShapeError(f"{self.name}: {name} of shape {value.shape} does not broadcast to size {shape}") from None

    def _uniform(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        low, high = params
        if self.dtype == "float64":
            words, new_state = philox_words(state, 2 * size)
            u = uniform53(words).reshape(shape)
            lo, hi = (self._param(np.asarray(v, np.float64), shape, n) for v, n in ((low, "low"), (high, "high")))
        else:
            words, new_state = philox_words(state, size)
            u = uniform24(words).reshape(shape)
            lo, hi = (self._param(np.asarray(v, np.float32), shape, n) for v, n in ((low, "low"), (high, "high")))
        return lo + (hi - lo) * u, new_state

    def _normal(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        avg, std = params
        pairs = -(-size // 2)
        words, new_state = philox_words(state, 4 * pairs)
        u = uniform53(words)
        r = np.sqrt(-2.0 * np.log1p(-u[0::2]))
        theta = 2.0 * np.pi * u[1::2]
        z = np.empty(2 * pairs)
        z[0::2] = r * np.cos(theta)
        z[1::2] = r * np.sin(theta)
        z = z[:size].reshape(shape)
        mu = self._param(np.asarray(avg, np.float64), shape, "avg")
        sd = self._param(np.asarray(std, np.float64), shape, "std")
        return mu + sd * z, new_state

    def _binomial(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        (p,) = params
        words, new_state = philox_words(state, size * self.n)
        u = (words >> np.uint32(8)).astype(np.float64) * 2.0**-24
        prob = self._param(np.asarray(p, np.float64), shape, "p").reshape(-1)
        hits = u.reshape(size, self.n) < prob[:, None]
        return hits.sum(axis=1).reshape(shape), new_state

    def _choice(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        a = int(params[0])
        if a < 1:
            raise ValueError(f"{self.name}: a must be at least 1, got {a}")
        words, new_state = philox_words(state, 2 * size)
        u = uniform53(words)
        return np.minimum(np.floor(u * a), a - 1).astype(np.int64).reshape(shape), new_state

    def _choice_p(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        a, p = int(params[0]), np.asarray(params[1], np.float64)
        if p.shape != (a,):
            raise ShapeError(f"{self.name}: p has shape {p.shape}, expected ({a},)")
        words, new_state = philox_words(state, 2 * size)
        u = uniform53(words)
        cdf = np.cumsum(p)
        idx = np.searchsorted(cdf, u * cdf[-1], side="right")
        return np.minimum(idx, a - 1).astype(np.int64).reshape(shape), new_state

    def _choice_noreplace(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        a = int(params[0])
        if size > a:
            raise ValueError(f"{self.name}: cannot take {size} samples from {a} without replacement")
        perm, new_state = self._permutation(state, (), 0, [a])
        return perm[:size].reshape(shape), new_state

    def _permutation(self, state: np.ndarray, shape: tuple, size: int, params: list) -> tuple:
        n = int(params[0])
        words, new_state = philox_words(state, 2 * n)
        keys = (words[0::2].astype(np.uint64) << _SHIFT32) | words[1::2].astype(np.uint64)
        return np.argsort(keys, kind="stable").astype(np.int64), new_state


# ---------------------------------------------------------------- streams
def _size_vector(size: Any, params: Sequence[Variable], what: str) -> Variable:
    from symdl.tensor.shape import cast_int64, stack

    if size is None:
        shapes = [p.type.shape for p in params if p.ndim]
        if not shapes:
            return constant(np.zeros(0, dtype="int64"))
        from symdl.tensor.elemwise import broadcast_static_shapes

        static = broadcast_static_shapes(what, list(params))
        if any(d is None for d in static):
            raise ShapeError(f"{what}: give size= when the parameters' shapes are not known statically")
        return constant(np.array(static, dtype="int64"))
    if isinstance(size, Variable):
        if size.ndim == 0:
            return stack([cast_int64(size)])
        return cast_int64(size)
    if isinstance(size, int | np.integer):
        size = (size,)
    entries = list(size)
    if all(isinstance(d, int | np.integer) for d in entries):
        if any(d < 0 for d in entries):
            raise ShapeError(f"{what}: negative size {tuple(entries)}")
        return constant(np.array(entries, dtype="int64"))
    return stack([cast_int64(as_tensor_variable(d)) for d in entries])


class RandomStream:
    """A source of random tensors, reproducible for a ``seed`` (Theano's ``RandomStreams``).

    Every draw is a graph node with its own state (a shared variable); each call of a compiled
    function that uses the draw advances that state, so successive calls give new numbers and
    rebuilding the same program with the same seed gives the same numbers, on every backend.

    >>> import symdl
    >>> rng = RandomStream(7)
    >>> mask = rng.bernoulli((4,), p=0.5, dtype='float32')
    >>> symdl.function([], mask)().dtype
    dtype('float32')
    """

    def __init__(self, seed: int | None = None):
        self.default_seed = int(seed) if seed is not None else 12345
        self.state_updates: list[tuple[Variable, Variable]] = []
        self._streams = 0

    def seed(self, seed: int | None = None) -> None:
        """Restart every draw of this stream from ``seed`` (the constructor's when None)."""
        self.default_seed = int(seed) if seed is not None else self.default_seed
        for state, _ in self.state_updates:
            value = state.get_value()
            state.set_value(np.array([self.default_seed % (1 << 64), value[1], 0], dtype=np.uint64))

    def updates(self) -> list[tuple[Variable, Variable]]:
        """The ``(state, new_state)`` pairs of every draw (applied automatically as default updates)."""
        return list(self.state_updates)

    def _draw(self, op: RandomVariable, size: Variable, params: Sequence[Variable]) -> Variable:
        from symdl.sharedvar import shared

        stream = self._streams
        self._streams += 1
        state = shared(np.array([self.default_seed % (1 << 64), stream, 0], dtype=np.uint64), name=f"rng_state{stream}")
        new_state, sample = op(state, size, *params)
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        return sample

    @staticmethod
    def _float_dtype(dtype: str | None, params: Sequence[Variable]) -> str:
        if dtype is not None:
            return str(np.dtype(dtype))
        strong = [p.dtype for p in params if p.type.is_float and not getattr(p, "weak", False)]
        return str(np.result_type(*strong)) if strong else config.floatX

    def uniform(self, size: Any = None, low: Any = 0.0, high: Any = 1.0, ndim: int | None = None, dtype: str | None = None) -> Variable:  # fmt: skip
        """Uniform samples in [low, high) (float32: 24 random bits; float64: 53)."""
        params = [as_tensor_variable(low), as_tensor_variable(high)]
        dtype = self._float_dtype(dtype, params)
        return self._draw(RandomVariable("uniform", dtype), _size_vector(size, params, "uniform"), params)

    def normal(self, size: Any = None, avg: Any = 0.0, std: Any = 1.0, ndim: int | None = None, dtype: str | None = None) -> Variable:  # fmt: skip
        """Gaussian samples with mean ``avg`` and standard deviation ``std`` (Box-Muller)."""
        params = [as_tensor_variable(avg), as_tensor_variable(std)]
        dtype = self._float_dtype(dtype, params)
        return self._draw(RandomVariable("normal", dtype), _size_vector(size, params, "normal"), params)

    def binomial(self, size: Any = None, n: int = 1, p: Any = 0.5, ndim: int | None = None, dtype: str = "int64") -> Variable:  # fmt: skip
        """Number of successes in ``n`` trials of probability ``p`` (``n`` a Python int)."""
        if not isinstance(n, int | np.integer) or n < 0:
            raise TypeMismatch(f"binomial: n must be a non-negative Python int, got {n!r}")
        params = [as_tensor_variable(p)]
        return self._draw(RandomVariable("binomial", dtype, int(n)), _size_vector(size, params, "binomial"), params)

    def bernoulli(self, size: Any = None, p: Any = 0.5, dtype: str = "int64") -> Variable:
        """1 with probability ``p``, else 0 (``binomial`` with ``n=1``)."""
        return self.binomial(size, 1, p, dtype=dtype)

    def choice(self, size: Any = None, a: Any = 2, replace: bool = True, p: Any = None, ndim: int | None = None, dtype: str = "int64") -> Variable:  # fmt: skip
        """Samples from ``range(a)`` (or from the 1-d tensor ``a``), uniformly or with probabilities ``p``."""
        values = None
        a_var = as_tensor_variable(a)
        if a_var.ndim == 1:
            from symdl.tensor.shape import shape_i

            values, a_var = a_var, shape_i(a_var, 0)
        elif a_var.ndim != 0 or not a_var.type.is_discrete:
            raise TypeMismatch(f"choice: a must be an integer or a 1-d tensor, got {a_var.type}")
        size_v = _size_vector(size, [], "choice")
        if p is not None:
            if not replace:
                raise NotImplementedError("choice: weighted sampling without replacement is not supported")
            draw = self._draw(RandomVariable("choice_p", "int64"), size_v, [a_var, as_tensor_variable(p)])
        else:
            dist = "choice" if replace else "choice_noreplace"
            draw = self._draw(RandomVariable(dist, "int64"), size_v, [a_var])
        if values is not None:
            return values[draw]
        from symdl.tensor.elemwise import cast

        return cast(draw, dtype)

    def permutation(self, n: Any, dtype: str = "int64") -> Variable:
        """A random permutation of ``range(n)``."""
        from symdl.tensor.elemwise import cast

        n_var = as_tensor_variable(n)
        if n_var.ndim != 0 or not n_var.type.is_discrete:
            raise TypeMismatch(f"permutation: n must be an integer scalar, got {n_var.type} ({describe(n_var)})")
        draw = self._draw(RandomVariable("permutation", "int64"), constant(np.zeros(0, "int64")), [n_var])
        return cast(draw, dtype)


RandomStreams = RandomStream
MRG_RandomStreams = RandomStream

_default_stream: RandomStream | None = None


def default_stream() -> RandomStream:
    """The module's shared stream (seed 12345), used where no stream is given."""
    global _default_stream
    if _default_stream is None:
        _default_stream = RandomStream(12345)
    return _default_stream


def dropout(x: Any, p: float = 0.5, rng: RandomStream | None = None, rescale: bool = True) -> Variable:
    """Zero each element of ``x`` with probability ``p``; with ``rescale`` divide the kept ones by
    ``1 - p`` so the expectation is unchanged. The mask is a bernoulli draw of ``rng`` (the
    module's default stream when None), new on every call of the compiled function.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.vector('x')
    >>> out = symdl.function([x], dropout(x, 0.5, RandomStream(1)))(np.ones(8, 'float32'))
    >>> sorted(set(out.tolist())) == [0.0, 2.0]
    True
    """
    x = as_tensor_variable(x)
    if isinstance(p, int | float) and not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if isinstance(p, int | float) and p == 0:
        return x
    rng = rng or default_stream()
    retain = 1 - p
    from symdl.tensor.shape import shape

    mask = rng.bernoulli(shape(x), p=retain, dtype=x.dtype)
    if rescale:
        return x * (mask / retain) if not isinstance(retain, float) else x * (mask * (1.0 / retain))
    return x * mask


__all__ = [
    "DISTRIBUTIONS",
    "MRG_RandomStreams",
    "RandomStream",
    "RandomStreams",
    "RandomVariable",
    "default_stream",
    "dropout",
    "philox4x32",
    "philox_words",
    "uniform24",
    "uniform53",
]


# ---------------------------------------------------------------- C and CUDA implementations
_C_RANDOM_KINDS = {"uniform": 0, "normal": 1, "binomial": 2}  # the runtime's codes
_C_INTEGERS = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
_C_FLOATS = ("float32", "float64")


@register_impl("c", RandomVariable)
def _random_in_c(node: Apply, c: Any) -> str | None:
    """Philox in the runtime (kernels/c/philox.h): the same numbers as ``perform``."""
    op = node.op
    state, shape, *params = node.inputs
    dtype = node.outputs[1].dtype
    allowed = (*_C_INTEGERS, *_C_FLOATS) if op.dist == "binomial" else _C_FLOATS
    if op.dist not in _C_RANDOM_KINDS or dtype not in allowed:
        return None
    if any(any(d != 1 for d in p.type.shape) or p.dtype not in (*_C_INTEGERS, *_C_FLOATS) for p in params):
        return None  # parameters per element: the Python perform broadcasts them
    if shape.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"):
        return None
    a, b = c.slot(params[0]), c.slot(params[1]) if len(params) > 1 else -1
    new_state, sample = (c.slot(v) for v in node.outputs)
    n = op.n if op.dist == "binomial" else 0
    return c.call("random", _C_RANDOM_KINDS[op.dist], c.slot(state), c.slot(shape), a, b, n, new_state, sample)


@register_impl("cuda", RandomVariable)
def _random_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.random(node, node.op.dist, node.op.n)
