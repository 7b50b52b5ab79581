"""Random fuzz programs, reproducible from ``(seed, index)``.

The generator evaluates the NumPy reference as it goes, so it knows every intermediate value's
shape and dtype and picks operands that fit (and, now and then, ones that do not: an index out of
range, shapes that do not broadcast, a size-0 maximum, so that error classes are compared too).

>>> from symdl.fuzz.program import symdl_source
>>> a, b = generate(0, 3), generate(0, 3)
>>> symdl_source(a) == symdl_source(b)
True
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np

from symdl.fuzz.program import Code, Input, Lit, Node, Program, node_source, used_names

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
DTYPES = FLOATS + INTS + ("bool",)

UNARY_FLOAT = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "arctan", "erf", "sigmoid", "softplus")
UNARY_FLOAT += ("floor", "ceil", "round", "isnan", "isinf", "isfinite")
UNARY_ANY = ("neg", "abs", "sqr", "sign", "logical_not")
BINARY_NUM = ("add", "sub", "mul", "true_div", "floor_div", "mod", "pow", "maximum", "minimum")
BINARY_NUM += ("lt", "le", "gt", "ge", "eq", "neq", "logical_and", "logical_or")
BINARY_INT = ("bitwise_and", "bitwise_or", "bitwise_xor")
REDUCTIONS = ("sum", "prod", "mean", "max", "min", "all", "any", "var", "std", "argmax", "argmin", "logsumexp")

# Ops whose gradient is checked against finite differences (smooth where the inputs are drawn).
SMOOTH_UNARY = ("tanh", "sigmoid", "sin", "cos", "softplus", "sqr", "neg", "arctan", "erf")
SMOOTH_BINARY = ("add", "sub", "mul")
SMOOTH_REDUCTIONS = ("sum", "mean", "prod", "logsumexp")


def _is_float(v: np.ndarray) -> bool:
    return v.dtype.kind == "f"


def reference_env() -> dict:
    """Globals of the NumPy reference source."""
    from symdl.fuzz import reference

    return {"np": np, "ref": reference}


def evaluate_node(node: Node, values: dict) -> np.ndarray:
    """The NumPy value of ``node`` given the values of the names before it."""
    env = reference_env()
    env.update(values)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(eval(node_source(node, 1), env))


class _Generator:
    def __init__(self, seed: int, index: int) -> None:
        self.rng = random.Random(f"symdl-fuzz:{seed}:{index}")
        self.nprng = np.random.default_rng([seed, index])
        self.grad = self.rng.random() < 0.25
        self.special = 0.0 if self.grad or self.rng.random() < 0.4 else self.rng.choice((0.05, 0.2, 0.5))
        self.program = Program([], [], [], grad=self.grad)
        self.values: dict[str, np.ndarray] = {}
        self.failed = False

    # ---- inputs ----
    def dtype(self) -> str:
        if self.grad:
            return "float64"
        return self.rng.choices(DTYPES, weights=(35, 30, 12, 10, 8))[0]

    def shape(self, ndim: int | None = None) -> tuple:
        ndim = self.rng.choices((0, 1, 2, 3, 4), weights=(8, 30, 35, 17, 10))[0] if ndim is None else ndim
        sizes = (0, 1, 2, 3, 4, 5) if not self.grad else (1, 2, 3, 4)
        weights = (3, 20, 30, 25, 15, 7) if not self.grad else (15, 35, 30, 20)
        return tuple(self.rng.choices(sizes, weights=weights)[0] for _ in range(ndim))

    def data(self, shape: tuple, dtype: str) -> np.ndarray:
        rng = self.nprng
        if dtype == "bool":
            return np.asarray(rng.random(shape) < 0.5)
        if np.dtype(dtype).kind in "iu":  # int32/int64, and int8 where bool // bool made one
            v = np.asarray(rng.integers(-6, 7, size=shape), dtype=dtype)
            specials = np.array([0, -1, 1, np.iinfo(dtype).min, np.iinfo(dtype).max], dtype)
        else:
            if self.grad:
                return np.asarray(rng.uniform(0.5, 1.5, size=shape) * rng.choice((-1.0, 1.0), size=shape), dtype=dtype)
            scale = self.rng.choice((1.0, 1.0, 1e-3, 30.0))
            v = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)
            fi = np.finfo(dtype)
            specials = np.array(
                [0.0, -0.0, np.inf, -np.inf, np.nan, fi.smallest_subnormal, -fi.smallest_subnormal, fi.max, -fi.max]
                + [fi.tiny, 1e30 if dtype == "float64" else 1e30, 0.5, -0.5, 1.0],
                dtype,
            )
        mask = rng.random(shape) < self.special
        if mask.any():
            v[mask] = rng.choice(specials, size=int(mask.sum()))
        return v

    def new_input(self, shape: tuple | None = None, dtype: str | None = None) -> str:
        dtype = dtype or self.dtype()
        shape = self.shape() if shape is None else tuple(shape)
        static = tuple(s if self.rng.random() < 0.5 else None for s in shape)
        name = f"x{len(self.program.inputs)}"
        self.program.inputs.append(Input(name, self.data(shape, dtype), static))
        self.values[name] = self.program.inputs[-1].value
        return name

    # ---- picking operands ----
    def pick(self, ok=lambda v: True) -> str | None:
        refs = [k for k, v in self.values.items() if ok(v)]
        if not refs:
            return None
        # favour recent values, so graphs grow deep as well as wide
        return refs[-1] if self.rng.random() < 0.5 else self.rng.choice(refs)

    def pick_or_new(self, ok, shape=None, dtype=None) -> str:
        ref = self.pick(ok) if self.rng.random() < 0.8 else None
        return ref if ref is not None else self.new_input(shape, dtype)

    def scalar(self, dtype: str) -> Lit:
        r = self.rng
        if dtype == "bool":
            return Lit(r.choice((True, False)))
        if np.dtype(dtype).kind in "iu" or (not self.grad and r.random() < 0.3):
            return Lit(r.choice((0, 1, 2, 3, -1, -2, 7)))
        if self.grad:
            return Lit(r.choice((0.5, 1.5, -2.0, 3.0)))
        return Lit(r.choice((0.5, -1.5, 2.0, 0.0, -0.0, 1e-3, 1e30, float("inf"), float("nan"), 1e-310)))

    def broadcast_partner(self, v: np.ndarray) -> str:
        """A value whose shape broadcasts with ``v`` (size-1 dims, fewer dims), or sometimes does not."""
        r = self.rng
        shape = list(v.shape)
        if r.random() < 0.3:
            shape = shape[r.randint(0, len(shape)) :] if shape else shape
        shape = [1 if r.random() < 0.25 else s for s in shape]
        if shape and r.random() < 0.03:
            shape[r.randrange(len(shape))] += 1  # does not broadcast: an error both sides must raise
        target = tuple(shape)
        dtype = self.dtype() if r.random() < 0.3 else v.dtype.name
        return self.pick_or_new(lambda w: w.shape == target and w.dtype.name == dtype, target, dtype)

    # ---- ops ----
    def axis_param(self, ndim: int, allow_tuple: bool = True) -> Any:
        r = self.rng
        if ndim == 0 or r.random() < 0.25:
            return None
        if allow_tuple and ndim > 1 and r.random() < 0.3:
            axes = r.sample(range(ndim), r.randint(1, ndim))
            return tuple(a - ndim if r.random() < 0.3 else a for a in axes)
        a = r.randrange(ndim)
        return a - ndim if r.random() < 0.3 else a

    def index_code(self, shape: tuple, advanced: bool) -> str:
        r = self.rng
        parts = []
        n = r.randint(1, len(shape))
        adv_dim = r.randrange(n) if advanced else -1
        for d in range(n):
            size = shape[d]
            if d == adv_dim:
                k = r.randint(1, 4)
                hi = size if r.random() > 0.03 else size + 2
                idx = [r.randint(-hi, hi - 1) for _ in range(k)] if hi > 0 else [0]
                parts.append(repr(idx))
            elif r.random() < 0.25 and not advanced:
                hi = size if r.random() > 0.03 else size + 1
                parts.append(str(r.randint(-hi, hi - 1)) if hi > 0 else "0")
            else:
                start = r.choice(("", str(r.randint(-size - 1, size + 1))))
                stop = r.choice(("", str(r.randint(-size - 1, size + 1))))
                step = r.choice(("", "", "2", "-1", "-2"))
                parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        return ", ".join(parts)

    def next_name(self) -> str:
        return f"v{len(self.program.nodes)}"

    def choose(self) -> Node | None:
        """A node on the values drawn so far (and new inputs it needs), or None when nothing fits."""
        r = self.rng
        if self.grad:
            kind = r.choices(
                ("unary", "binary", "reduce", "shape", "index", "dot", "nnet"), (30, 25, 12, 12, 10, 6, 5)
            )[0]
        else:
            kind = r.choices(
                ("unary", "binary", "misc", "reduce", "shape", "index", "dot", "nnet"), (22, 28, 8, 14, 10, 10, 4, 4)
            )[0]
        return getattr(self, f"_{kind}")()

    def _unary(self) -> Node | None:
        """An elementwise op of one argument."""
        r = self.rng
        if self.grad:
            return Node(self.next_name(), r.choice(SMOOTH_UNARY), (self.pick_or_new(_is_float),))
        if r.random() < 0.6:
            return Node(self.next_name(), r.choice(UNARY_FLOAT), (self.pick_or_new(_is_float),))
        op = r.choice(UNARY_ANY + ("invert",))
        if op == "invert":
            return Node(self.next_name(), op, (self.pick_or_new(lambda v: v.dtype.kind in "ib"),))
        return Node(self.next_name(), op, (self.pick_or_new(lambda v: v.dtype.kind != "b" or op == "logical_not"),))

    def _binary(self) -> Node | None:
        """An elementwise op of two arguments, one of them possibly a weak scalar."""
        r = self.rng
        if self.grad:
            op = r.choice(SMOOTH_BINARY + ("true_div",))
            a = self.pick_or_new(_is_float)
            if op == "true_div":  # divide by an input (its values are away from 0) or a scalar
                b = self.scalar("float64") if r.random() < 0.3 else self.new_input(self.values[a].shape)
            else:
                b = self.scalar("float64") if r.random() < 0.2 else self.broadcast_partner(self.values[a])
            swap = r.random() >= 0.7 and op != "true_div"  # never a computed denominator: near 0, FD fails
            return Node(self.next_name(), op, (b, a) if swap else (a, b))
        ints = r.random() < 0.15
        op = r.choice(BINARY_INT) if ints else r.choice(BINARY_NUM)
        a = self.pick_or_new(lambda v: v.dtype.kind in "ib") if ints else self.pick_or_new(lambda v: True)
        va = self.values[a]
        b = self.scalar(va.dtype.name) if r.random() < 0.25 else self.broadcast_partner(va)
        if ints and not isinstance(b, Lit) and self.values[b].dtype.kind == "f":
            b = self.scalar(va.dtype.name)
        return Node(self.next_name(), op, (a, b) if r.random() < 0.7 else (b, a))

    def _misc(self) -> Node | None:
        """switch, clip, cast or arctan2."""
        r = self.rng
        op = r.choice(("switch", "clip", "cast", "arctan2"))
        if op == "switch":
            c = self.pick_or_new(lambda v: v.dtype.kind == "b", dtype="bool")
            a = self.broadcast_partner(self.values[c])
            b = self.scalar(self.values[a].dtype.name) if r.random() < 0.3 else self.broadcast_partner(self.values[a])
            return Node(self.next_name(), op, (c, a, b))
        if op == "clip":
            a = self.pick_or_new(lambda v: v.dtype.kind in "if")
            lo, hi = sorted(r.sample((-2, -1, 0, 1, 3), 2))
            if self.values[a].dtype.kind == "f" and r.random() < 0.5:
                lo, hi = lo - 0.5, hi + 0.25
            return Node(self.next_name(), op, (a,), {"lo": lo, "hi": hi})
        if op == "cast":
            a = self.pick_or_new(lambda v: True)
            target = r.choice(DTYPES)
            v = self.values[a]
            if target in INTS and v.dtype.kind == "f" and not (np.isfinite(v).all() and (np.abs(v) < 2**31).all()):
                target = "float64"  # float to int of NaN, inf or an out-of-range value is undefined in C
            return Node(self.next_name(), op, (a,), {"dtype": target})
        a = self.pick_or_new(_is_float)
        return Node(self.next_name(), op, (a, self.broadcast_partner(self.values[a])))

    def _reduce(self) -> Node | None:
        """A reduction over random axes."""
        r = self.rng
        ops = SMOOTH_REDUCTIONS if self.grad else REDUCTIONS
        op = r.choice(ops)
        a = self.pick_or_new(_is_float if op == "logsumexp" else (lambda v: True))
        ndim = self.values[a].ndim
        axis = self.axis_param(ndim, allow_tuple=op not in ("argmax", "argmin"))
        return Node(self.next_name(), op, (a,), {"axis": axis, "keepdims": r.random() < 0.3})

    def _shape(self) -> Node | None:
        """reshape, dimshuffle, transpose, flatten or concatenate."""
        r = self.rng
        op = r.choice(("reshape", "dimshuffle", "transpose", "flatten", "concatenate"))
        a = self.pick_or_new(lambda v: True)
        v = self.values[a]
        if op == "reshape":
            size, shape = v.size, []
            while size > 1 and r.random() < 0.8:
                f = r.choice([d for d in range(1, size + 1) if size % d == 0])
                shape.append(f)
                size //= f
            shape.append(size)
            if v.size == 0 or r.random() < 0.2:
                shape.insert(r.randrange(len(shape) + 1), 1)
            if r.random() < 0.3 and v.size:
                shape[r.randrange(len(shape))] = -1
            if r.random() < 0.03:
                shape[0] = shape[0] + 1 if shape[0] != -1 else 2  # the wrong size: both must raise
            return Node(self.next_name(), op, (a,), {"shape": tuple(shape)})
        if op == "dimshuffle":
            inputs = {i.name: i.static for i in self.program.inputs}
            static = inputs.get(a, (None,) * v.ndim)
            kept = [d for d in range(v.ndim) if static[d] != 1 or r.random() < 0.5]
            r.shuffle(kept)
            pattern: list = list(kept)
            for _ in range(r.choice((0, 0, 1, 2))):
                pattern.insert(r.randint(0, len(pattern)), "x")
            return Node(self.next_name(), op, (a,), {"pattern": tuple(pattern)})
        if op == "transpose":
            axes = list(range(v.ndim))
            r.shuffle(axes)
            return Node(self.next_name(), op, (a,), {"axes": tuple(axes) if r.random() < 0.7 else None})
        if op == "flatten":
            return Node(self.next_name(), op, (a,), {"ndim": r.randint(1, max(v.ndim, 1))})
        if v.ndim == 0:
            return None
        axis = r.randrange(v.ndim)
        shape = list(v.shape)
        shape[axis] = r.choice((0, 1, 2, 3)) if not self.grad else r.choice((1, 2))
        if r.random() < 0.03:
            shape[(axis + 1) % v.ndim] += 1
        dtype = v.dtype.name if self.grad or r.random() < 0.8 else self.dtype()
        b = self.pick_or_new(lambda w: w.shape == tuple(shape) and w.dtype.name == dtype, tuple(shape), dtype)
        return Node(
            self.next_name(),
            op,
            (a, b) if r.random() < 0.7 else (b, a),
            {"axis": axis - v.ndim if r.random() < 0.3 else axis},
        )

    def _index(self) -> Node | None:
        """Basic or advanced indexing, or set_subtensor/inc_subtensor through it."""
        r = self.rng
        a = self.pick_or_new(lambda v: v.ndim > 0, shape=self.shape(r.randint(1, 3)))
        v = self.values[a]
        op = r.choice(("index", "index", "inc_subtensor", "set_subtensor"))
        advanced = r.random() < 0.4
        code = self.index_code(v.shape, advanced)
        if op == "index":
            return Node(self.next_name(), op, (a,), {"index": Code(code)})
        try:
            target = np.asarray(v)[eval(f"np.s_[{code}]", {"np": np})]
        except IndexError:
            return None
        shape = target.shape if r.random() < 0.7 else tuple(1 if r.random() < 0.5 else s for s in target.shape)
        b = self.pick_or_new(lambda w: w.shape == shape and w.dtype == v.dtype, shape, v.dtype.name)
        if op == "set_subtensor" and advanced:
            op = "inc_subtensor"  # set with repeated indices has no defined winner
        return Node(self.next_name(), op, (a, b), {"index": Code(code)})

    def _dot(self) -> Node | None:
        """dot of matrices and vectors."""
        r = self.rng
        dtype = r.choice(FLOATS) if not self.grad else "float64"
        n, k, m = (r.choice((0, 1, 2, 3, 4)) if not self.grad else r.choice((1, 2, 3)) for _ in range(3))
        left = (n, k) if r.random() < 0.7 else (k,)
        right = (k, m) if r.random() < 0.7 else (k,)
        if r.random() < 0.03:
            right = (k + 1,) + right[1:]
        a = self.pick_or_new(lambda v: v.shape == left and v.dtype.name == dtype, left, dtype)
        b = self.pick_or_new(lambda v: v.shape == right and v.dtype.name == dtype, right, dtype)
        return Node(self.next_name(), "dot", (a, b))

    def _nnet(self) -> Node | None:
        """conv2d, pool_2d, softmax or log_softmax."""
        r = self.rng
        op = r.choice(("conv2d", "pool_2d", "softmax", "log_softmax"))
        dtype = r.choice(FLOATS) if not self.grad else "float64"
        if op in ("softmax", "log_softmax"):
            a = self.pick_or_new(lambda v: v.ndim > 0 and v.dtype.kind == "f", self.shape(r.randint(1, 3)), dtype)
            nd = self.values[a].ndim
            return Node(self.next_name(), op, (a,), {"axis": r.randrange(-nd, nd)})
        if op == "conv2d":
            b, c, o = r.randint(1, 2), r.randint(1, 2), r.randint(1, 2)
            kh, kw = r.randint(1, 3), r.randint(1, 3)
            h, w = r.randint(kh, 5), r.randint(kw, 5)
            x = self.pick_or_new(lambda v: v.shape == (b, c, h, w) and v.dtype.name == dtype, (b, c, h, w), dtype)
            f = self.new_input((o, c, kh, kw), dtype)
            params = {
                "border_mode": r.choice(("valid", "full", "half", (1, 0))),
                "subsample": r.choice(((1, 1), (2, 1), (2, 2))),
                "filter_flip": r.random() < 0.5,
            }
            return Node(self.next_name(), op, (x, f), params)
        h, w = r.randint(1, 5), r.randint(1, 5)
        lead = self.shape(r.randint(0, 2))
        x = self.pick_or_new(lambda v: v.ndim >= 2 and v.size and v.dtype.kind == "f", lead + (h, w), dtype)
        h, w = self.values[x].shape[-2:]
        ws = (r.randint(1, min(h, 3)), r.randint(1, min(w, 3)))
        stride = (r.randint(1, 3), r.randint(1, 3))
        modes = ("sum", "average_inc_pad", "average_exc_pad") if self.grad else ("max", "sum", "average_inc_pad")
        mode = r.choice(modes + ("average_exc_pad",) if not self.grad else modes)
        ignore_border = self.grad or mode not in ("max", "sum") or r.random() < 0.5
        pad = (r.randint(0, ws[0] - 1), r.randint(0, ws[1] - 1)) if ignore_border and r.random() < 0.3 else (0, 0)
        params = {"ws": ws, "ignore_border": ignore_border, "stride": stride, "pad": pad, "mode": mode}
        return Node(self.next_name(), "pool_2d", (x,), params)

    def run(self) -> Program:
        r = self.rng
        first = self.new_input(self.shape(r.randint(1, 3)) if self.grad else None)
        n_nodes = r.randint(1, 6)
        tries = 0
        while len(self.program.nodes) < n_nodes and tries < 40:
            tries += 1
            n_inputs, values = len(self.program.inputs), dict(self.values)
            node = self.choose()
            value = None
            if node is not None:
                try:
                    value = evaluate_node(node, self.values)
                except Exception:  # noqa: BLE001 - a NumPy error: kept now and then, to compare error classes
                    if not self.grad and r.random() < 0.3:
                        self.program.nodes.append(node)
                        self.failed = True
                        break
            if value is None or (self.grad and not self._smooth(value)):
                del self.program.inputs[n_inputs:]
                self.values = values
                continue
            self.program.nodes.append(node)
            self.values[node.name] = value
        p = self.program
        names = [n.name for n in p.nodes]
        if self.failed:
            p.outputs = names[-1:]
        else:  # every value no node consumes is an output
            consumed = {a for n in p.nodes for a in n.args if not isinstance(a, Lit)}
            p.outputs = [n for n in names if n not in consumed] or [first]
        if self.grad:
            p.outputs = [o for o in p.outputs if self.values[o].dtype.kind == "f"]
        prune(p)
        if self.grad:
            self._make_grad()
        return p

    def _smooth(self, value: np.ndarray) -> bool:
        return value.dtype.kind == "f" and bool(np.isfinite(value).all()) and float(np.abs(value).max(initial=0)) < 1e6

    def _make_grad(self) -> None:
        p = self.program
        if not p.outputs:
            p.grad = False
            return
        used = used_names(p)
        p.wrt = tuple(i.name for i in p.inputs if i.name in used)
        p.projections = [self.nprng.uniform(0.5, 1.5, size=self.values[o].shape) for o in p.outputs]


def prune(program: Program) -> None:
    """Drop the nodes and inputs that no output depends on."""
    used = used_names(program)
    program.nodes = [n for n in program.nodes if n.name in used]
    program.inputs = [i for i in program.inputs if i.name in used]


def generate(seed: int, index: int) -> Program:
    """Program ``index`` of the run with ``seed`` (the same program on every machine and every run)."""
    return _Generator(seed, index).run()
