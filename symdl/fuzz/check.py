"""Run a fuzz program on symdl's backends and on NumPy, and say how they disagree.

The rules: a backend's outputs must have the reference's dtype and shape and its values within a
dtype-aware tolerance (NaN where NumPy has NaN, infinities of the same sign, -0.0 equal to 0.0, a
value within rounding of the largest float equal to an infinity); when NumPy raises, every backend
must raise an error of the same builtin family (``ShapeError`` is a ``ValueError``); when NumPy
does not, no backend may raise; gradients must match central finite differences of the reference.

>>> import numpy as np
>>> compare_values(np.array([1.0, np.nan], "float32"), np.array([1.00001, np.nan], "float32"))
>>> compare_values(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
'value 2.0 at (1,), expected 3.0 (float64 tolerance 1e-09, scale 3.0)'
>>> compare_values(np.array([1.0]), np.array([1.00001]), "float32")
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symdl.fuzz.generate import UNARY_FLOAT, reference_env
from symdl.fuzz.program import Program, input_names, numpy_source, symdl_source

RTOL = {"float16": 2e-3, "float32": 1e-4, "float64": 1e-9}
# Gradients against finite differences (float64, step FD_EPS): tolerance relative to the gradient's scale.
FD_EPS = 1e-6
FD_TOL = 1e-5
# Error families compared between NumPy and symdl (the first a class belongs to, in this order).
FAMILIES = (IndexError, ValueError, TypeError, OverflowError, ZeroDivisionError, FloatingPointError, MemoryError)


@dataclass
class Outcome:
    """What checking one program found: ``kind`` is 'ok' or the failure ('mismatch', 'error', 'crash', 'hang',
    'grad'); ``where`` the backend; ``detail`` a human sentence. Shrinking keeps ``key`` fixed."""

    kind: str
    where: str = ""
    detail: str = ""
    signature: str = ""

    @property
    def key(self) -> tuple:
        return (self.kind, self.where, self.signature)

    @property
    def failed(self) -> bool:
        return self.kind != "ok"


def family(exc: BaseException) -> tuple:
    """The builtin families an exception belongs to (NumPy's AxisError is both a ValueError and an IndexError)."""
    return tuple(f.__name__ for f in FAMILIES if isinstance(exc, f)) or (type(exc).__name__,)


def reference_function(program: Program) -> Callable[..., Any]:
    """The NumPy reference as a function of the input values: a list of outputs, or the cost (a float)."""
    env = reference_env()
    exec(numpy_source(program), env)
    fn = env["reference"]

    def run(*values: Any) -> Any:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*values)
        return float(out) if program.grad else [np.asarray(o) for o in out]

    return run


def run_reference(program: Program, values: list) -> Any:
    """The NumPy reference's outputs (a list) or its cost (a gradient program); raises as NumPy does."""
    return reference_function(program)(*values)


def symdl_env() -> dict:
    """Globals of the symdl source."""
    import symdl
    import symdl.tensor as T
    from symdl.tensor.signal.pool import pool_2d

    return {"np": np, "symdl": symdl, "T": T, "pool_2d": pool_2d}


def run_symdl(program: Program, values: list, mode: str) -> tuple[str, Any]:
    """Build, compile and call the program on backend ``mode``: ('ok', outputs) or (stage, exception)."""
    import symdl

    env = symdl_env()
    try:
        exec(symdl_source(program), env)
    except Exception as e:  # noqa: BLE001 - every error is data here
        return "build", e
    inputs = [env[n] for n in input_names(program)]
    try:
        fn = symdl.function(inputs, env["outputs"], mode=mode, on_unused_input="ignore")
    except Exception as e:  # noqa: BLE001
        return "compile", e
    try:
        with np.errstate(all="ignore"):
            return "ok", [np.asarray(o) for o in fn(*values)]
    except Exception as e:  # noqa: BLE001
        return "call", e


def program_values(program: Program) -> list:
    """The arrays the compiled function is called with (projections last for a gradient program)."""
    values = [i.value for i in program.inputs]
    return values + list(program.projections) if program.grad else values


def working_precision(program: Program) -> str:
    """The least precise float dtype a program computes in (a float64 output computed from float32
    values is as close as float32 rounding allows); bool and small ints go to float16 under NumPy's rules."""
    dtypes = {i.value.dtype.name for i in program.inputs} | {n.params.get("dtype") for n in program.nodes}
    if "bool" in dtypes and any(n.op in UNARY_FLOAT or n.op in ("sigmoid", "softplus") for n in program.nodes):
        return "float16"
    return next((d for d in ("float16", "float32") if d in dtypes), "float64")


ACCUMULATING = ("dot", "conv2d", "pool_2d", "sum", "prod", "mean", "var", "std", "logsumexp", "softmax", "log_softmax")


def accumulates(program: Program) -> bool:
    """Whether the program sums many terms (where overflow makes the order of summation matter)."""
    return any(n.op in ACCUMULATING for n in program.nodes)


def compare_values(
    got: np.ndarray, expected: np.ndarray, precision: str = "float64", accumulates: bool = False
) -> str | None:
    """None when ``got`` matches ``expected`` by the fuzzer's rules, else what differs.

    ``precision`` is the least precise float dtype of the computation; with it the output's own
    dtype sets the tolerance. ``accumulates`` says the graph sums (dot, conv, reductions): where
    such a sum overflows, the order of summation (which neither NumPy nor symdl fixes) decides
    between a huge value, +inf, -inf and NaN, so those count as equal to each other there.
    """
    got, expected = np.asarray(got), np.asarray(expected)
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype}, expected {expected.dtype}"
    if got.shape != expected.shape:
        return f"shape {got.shape}, expected {expected.shape}"
    if got.dtype.kind != "f":
        bad = np.argwhere(got != expected)
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            return f"value {got[idx].item()!r} at {idx}, expected {expected[idx].item()!r}"
        return None
    rtol = max(RTOL[got.dtype.name], RTOL[precision])
    big = np.finfo(got.dtype).max * (1 - 4 * rtol)
    g, e = got.astype("float64"), expected.astype("float64")
    # within rounding of the largest float counts as infinite (exp near overflow differs by an ulp)
    g = np.where(np.abs(g) >= big, np.copysign(np.inf, g), g)
    e = np.where(np.abs(e) >= big, np.copysign(np.inf, e), e)
    finite = np.isfinite(e)
    scale = max(1.0, float(np.abs(e[finite]).max(initial=0.0)))
    with np.errstate(all="ignore"):
        close = np.where(finite, np.abs(g - e) <= rtol * scale, (g == e) | (np.isnan(g) & np.isnan(e)))
        if accumulates:
            huge = np.sqrt(np.finfo(got.dtype).max)
            overflowed = ~np.isfinite(g) | (np.abs(g) > huge)
            close |= overflowed & (~finite | (np.abs(e) > huge))
    bad = np.argwhere(~close)
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        return f"value {got[idx].item()!r} at {idx}, expected {expected[idx].item()!r} ({got.dtype} tolerance {rtol}, scale {scale})"
    return None


def finite_differences(cost: Callable[..., float], values: list, positions: Sequence[int]) -> list[np.ndarray]:
    """Central differences (step FD_EPS) of ``cost(*values)`` with respect to ``values[k]`` for k in ``positions``."""
    grads = []
    for k in positions:
        g = np.zeros(np.shape(values[k]))
        for idx in np.ndindex(*g.shape):
            plus, minus = list(values), list(values)
            plus[k], minus[k] = np.array(values[k], dtype="float64"), np.array(values[k], dtype="float64")
            plus[k][idx] += FD_EPS
            minus[k][idx] -= FD_EPS
            g[idx] = (cost(*plus) - cost(*minus)) / (2 * FD_EPS)
        grads.append(g)
    return grads


def compare_gradients(got: list, cost: float, numeric: list[np.ndarray]) -> str | None:
    """None when the compiled cost and gradients match the reference cost and finite differences."""
    if (msg := compare_values(np.asarray(got[0]), np.asarray(cost))) is not None:
        return f"cost: {msg}"
    for k, (g, n) in enumerate(zip(got[1:], numeric)):
        g = np.asarray(g)
        if g.shape != n.shape or g.dtype != n.dtype:
            return f"gradient {k}: {g.dtype}{g.shape}, expected {n.dtype}{n.shape}"
        scale = max(1.0, float(np.abs(n).max(initial=0.0)))
        bad = np.argwhere(~(np.abs(g - n) <= FD_TOL * scale))
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            return f"gradient {k} is {g[idx]!r} at {idx}, finite differences give {n[idx]!r}"
    return None


def check(program: Program, backends: tuple[str, ...]) -> Outcome:
    """Run ``program`` everywhere and return the first disagreement (or Outcome('ok'))."""
    values = program_values(program)
    try:
        expected = run_reference(program, values)
        ref_error = None
    except Exception as e:  # noqa: BLE001
        expected, ref_error = None, e
    numeric = None
    if program.grad and ref_error is None:
        names = input_names(program)
        numeric = finite_differences(reference_function(program), values, [names.index(n) for n in program.wrt])
    results = {}
    for mode in backends:
        stage, got = run_symdl(program, values, mode)
        results[mode] = (stage, got)
        if ref_error is not None:
            if stage == "ok":
                detail = f"NumPy raises {type(ref_error).__name__}: {ref_error}; {mode} returns"
                return Outcome("error", mode, detail, f"{type(ref_error).__name__}/none")
            if not set(family(ref_error)) & set(family(got)):
                return Outcome(
                    "error",
                    mode,
                    f"NumPy raises {type(ref_error).__name__}: {ref_error}; "
                    f"{mode} raises {type(got).__name__} at {stage}: {got}",
                    f"{type(ref_error).__name__}/{type(got).__name__}/{stage}",
                )
            continue
        if stage != "ok":
            detail = f"{mode} raises {type(got).__name__} at {stage}: {got}; NumPy returns"
            return Outcome("error", mode, detail, f"none/{type(got).__name__}/{stage}")
        if program.grad:
            if (msg := compare_gradients(got, expected, numeric)) is not None:
                return Outcome("grad", mode, f"{mode}: {msg}", msg.split()[0])
            continue
        for k, (g, e) in enumerate(zip(got, expected)):
            if (msg := compare_values(g, e, working_precision(program), accumulates(program))) is not None:
                return Outcome("mismatch", mode, f"{mode} output {k} ({program.outputs[k]}): {msg}", msg.split()[0])
    if ref_error is not None and len(backends) > 1:
        kinds = {type(results[m][1]).__name__ for m in backends}
        if len(kinds) > 1:
            detail = f"the backends raise different errors: {sorted(kinds)}"
            return Outcome("error", "+".join(backends), detail, "/".join(sorted(kinds)))
    return Outcome("ok")
