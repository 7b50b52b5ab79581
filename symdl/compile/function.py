"""``symdl.function``: turn symbolic inputs and outputs (plus updates and givens) into a callable.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.fvector('x')
>>> acc = symdl.shared(np.float32(0), name='acc')
>>> f = symdl.function([x], x.sum(), updates=[(acc, acc + x.sum())])
>>> float(f([1, 2, 3])), float(acc.get_value())
(6.0, 6.0)
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.backend import Thunk
from symdl.compile.plan import Plan, make_plan
from symdl.config import config
from symdl.errors import InputError, ShapeError, TypeMismatch, UnusedInputError
from symdl.graph.basic import Constant, Variable, ancestors, clone_replace, graph_inputs
from symdl.graph.fg import FunctionGraph
from symdl.tensor.elemwise import cast
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


class _NoValue:
    """Marks an input without a default; one instance, kept one through pickling."""

    def __repr__(self) -> str:
        return "<no value>"

    def __reduce__(self) -> str:
        return "_NO_VALUE"


_NO_VALUE = _NoValue()


class In:
    """A function input with options: a default ``value`` makes it optional when calling."""

    _no_value = _NO_VALUE

    def __init__(self, variable: Variable, value: Any = _no_value, name: str | None = None, borrow: bool = False):
        self.variable = variable
        self.value = value
        self.name = name or getattr(variable, "name", None)
        self.borrow = borrow

    @property
    def has_default(self) -> bool:
        return self.value is not In._no_value


class Out:
    """A function output with options (Theano's ``Out``): ``borrow=True`` lets the function return
    memory that it may overwrite on a later call, sparing a new array per call. Keep (or copy)
    such a result only until the next call."""

    def __init__(self, variable: Any, borrow: bool = False):
        self.variable = variable
        self.borrow = borrow


def _unwrap_out(output: Any) -> tuple[Variable, bool]:
    if isinstance(output, Out):
        return as_tensor_variable(output.variable), bool(output.borrow)
    return as_tensor_variable(output), False


def _normalize_updates(updates: Any) -> list[tuple[Variable, Variable]]:
    if updates is None:
        return []
    items = list(updates.items()) if isinstance(updates, dict) else list(updates)
    result = []
    seen = set()
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"updates must be (shared variable, expression) pairs, got {pair!r}")
        var, expr = pair
        if not getattr(var, "is_shared", False):
            raise TypeMismatch(
                f"updates: {describe(var)} is not a shared variable; only shared variables can be updated"
            )
        if var in seen:
            raise ValueError(f"updates: {describe(var)} is updated twice")
        seen.add(var)
        expr = as_tensor_variable(expr)
        if isinstance(expr, Constant) and (getattr(expr, "weak", False) or expr.dtype != var.dtype):
            expr = as_tensor_variable(np.asarray(expr.data, dtype=var.dtype))
        elif getattr(expr, "weak", False) and expr.dtype != var.dtype:  # a shape value: an int as Python's
            expr = cast(expr, var.dtype)
        if expr.ndim != var.ndim or expr.dtype != var.dtype:
            raise TypeMismatch(
                f"an update must have the type of its shared variable: {describe(var)} is {var.type}, "
                f"the update expression is {expr.type} ({describe(expr)})"
                + (
                    "; a float64 value entered the expression there (a NumPy float64 scalar or array?)"
                    if expr.dtype == "float64" and var.dtype == "float32"
                    else ""
                )
            )
        for want, got in zip(var.type.shape, expr.type.shape):
            if want is not None and got is not None and want != got:
                raise ShapeError(
                    f"update of {describe(var)} has shape {shape_str(expr.type.shape)}, expected {shape_str(var.type.shape)}"
                )
        result.append((var, expr))
    return result


def _normalize_givens(givens: Any) -> dict[Variable, Variable]:
    if givens is None:
        return {}
    items = list(givens.items()) if isinstance(givens, dict) else list(givens)
    result = {}
    for old, new in items:
        new = as_tensor_variable(new)
        if isinstance(old.type, TensorType) and (new.dtype != old.dtype or new.ndim != old.ndim):
            if isinstance(new, Constant):
                new = as_tensor_variable(np.asarray(new.data, dtype=old.dtype))
            elif getattr(new, "weak", False) and new.ndim == old.ndim:
                new = cast(new, old.dtype)
            else:
                raise TypeMismatch(f"givens: {describe(old)} is {old.type} but its replacement is {new.type}")
        result[old] = new
    return result


class Function:
    """A compiled function. Call it with NumPy values for its inputs (positionally or by name).

    ``graph`` is the rewritten FunctionGraph (``maker.fgraph`` is Theano's alias); ``source()``
    shows what the backend runs; ``profile()`` reports per-node time.
    """

    def __init__(
        self,
        inputs: list[In],
        output_spec: Any,
        n_outputs: int,
        updates: list[tuple[Variable, Variable]],
        fgraph: FunctionGraph,
        shared_inputs: list[Variable],
        backend: str,
        name: str | None,
        rewrite_settings: tuple,
    ):
        from symdl.backend import get_backend

        self.inputs = inputs
        self.output_spec = output_spec
        self.n_outputs = n_outputs
        self.updated_shared = [var for var, _ in updates]
        # updates whose static shape does not already match their variable's: checked per call,
        # so that no update changes the shape a shared variable was declared with
        self._update_shapes = [
            (k, var) for k, (var, expr) in enumerate(updates)
            if any(want is not None and got != want for want, got in zip(var.type.shape, expr.type.shape))
        ]  # fmt: skip
        # a call computes and applies its updates as one step, whichever thread calls (reentrant:
        # a callback calling its own function reaches the runtime, which refuses it)
        self._lock = threading.RLock()
        self._graph = fgraph
        self._rewrite_settings: tuple | None = rewrite_settings
        self._plan: Plan | None = None
        self.shared_inputs = shared_inputs
        self.backend = backend
        self.name = name
        self.rewrite_seconds = 0.0
        linker = get_backend(backend)
        start = time.perf_counter()
        # A backend that remembers what it built for this graph as the user wrote it (the C
        # backend's memo) needs no rewriting: the graph is rewritten only if someone asks for it.
        key, thunk = linker.recall(fgraph, rewrite_settings)
        if thunk is None:
            self._rewrite()
            start = time.perf_counter()
            thunk = linker.link(self.plan)
            if key is not None:
                linker.remember(key, thunk)
        self.thunk: Thunk = thunk
        self.link_seconds = time.perf_counter() - start
        self._types = [i.variable.type for i in inputs]
        self._names = {i.name: k for k, i in enumerate(inputs) if i.name}
        self.compile_args: dict[str, Any] | None = None  # symdl.function's arguments, for pickling
        self._thunk_checks_inputs = thunk.checks_inputs_and_owns_outputs

    def _rewrite(self) -> float:
        """Rewrite the graph if it is not yet; return the seconds it took."""
        if self._rewrite_settings is None:
            return 0.0
        from symdl.rewrite import rewrite_graph

        start = time.perf_counter()
        optimizer, excluding, including = self._rewrite_settings
        rewrite_graph(self._graph, optimizer, excluding=excluding, including=including)
        self._rewrite_settings = None
        self.rewrite_seconds = time.perf_counter() - start
        return self.rewrite_seconds

    @property
    def graph(self) -> FunctionGraph:
        """The rewritten FunctionGraph."""
        self._rewrite()
        return self._graph

    @property
    def plan(self) -> Plan:
        """The execution plan of the rewritten graph (``symdl.compile.plan``)."""
        if self._plan is None:
            self._rewrite()
            device = "cuda" if self.backend == "cuda" else "cpu"
            self._plan = make_plan(self._graph, len(self.inputs), self.n_outputs, device)
        return self._plan

    @property
    def maker(self) -> _Maker:
        """Theano's ``fn.maker.fgraph``."""
        return _Maker(self.graph)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if self._thunk_checks_inputs and not kwargs:
            # The C runtime converts the values as _filter does (scalars and lists too) and checks
            # count, dtype, ndim and static shape before touching memory, and it returns arrays no
            # one else holds: the common call needs nothing more.
            shared = self.shared_inputs
            try:
                outputs = self.thunk([*args, *[s.container[0] for s in shared]] if shared else args)
            except InputError:
                pass  # a value to refuse with a full message, a default to fill in: the full path
            else:
                if self.updated_shared:
                    n = self.n_outputs
                    if self._update_shapes:
                        self._check_update_shapes(outputs[n:])
                    for var, value in zip(self.updated_shared, outputs[n:]):
                        var.container[0] = value
                    del outputs[n:]
                return outputs[0] if self.output_spec == "single" else self._pack(outputs)
        values = self._check_args(args, kwargs)
        shared_values = [s.container[0] for s in self.shared_inputs]
        outputs = self.thunk(values + shared_values)
        n = self.n_outputs
        if self._update_shapes:
            self._check_update_shapes(outputs[n:])
        # Arrays that the caller or a shared variable holds: no output or new shared value may
        # alias one (nor each other), or mutating one would change the other.
        held = set(map(id, values))
        held.update(map(id, shared_values))
        results = []
        for value in outputs[:n]:
            value = _owned(value, held)
            held.add(id(value))
            results.append(value)
        for var, value in zip(self.updated_shared, outputs[n:]):
            if value is not var.container[0]:  # else the backend updated the variable's array in place
                value = _owned(value, held)
                held.add(id(value))
            var.container[0] = value
        return self._pack(results)

    def _check_update_shapes(self, new_values: Sequence[Any]) -> None:
        """Refuse, before any update is applied, a new value of another shape than its variable's."""
        for k, var in self._update_shapes:
            got = np.shape(new_values[k])
            if len(got) != len(var.type.shape) or any(w is not None and w != g for w, g in zip(var.type.shape, got)):
                raise ShapeError(
                    f"{self._label()}: the update of {describe(var)} has shape {got}, but the variable's shape is "
                    f"{shape_str(var.type.shape)}; no update was applied"
                )

    def _check_args(self, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
        n = len(self.inputs)
        if len(args) > n:
            raise InputError(f"{self._label()} takes {n} inputs, got {len(args)}")
        values: list[Any] = list(args) + [In._no_value] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._names:
                raise InputError(f"{self._label()} has no input named {key!r}; inputs: {list(self._names)}")
            k = self._names[key]
            if k < len(args):
                raise InputError(f"{self._label()}: input {key!r} given both by position and by name")
            values[k] = value
        for k, (inp, value) in enumerate(zip(self.inputs, values)):
            if value is In._no_value:
                if not inp.has_default:
                    raise InputError(f"{self._label()}: missing input {k} ({inp.name or 'unnamed'})")
                value = inp.value
            values[k] = self._filter(k, inp, value)
        return values

    def _filter(self, k: int, inp: In, value: Any) -> Any:
        typ = self._types[k]
        if type(value) is np.ndarray and value.dtype == typ.dtype and value.ndim == typ.ndim:
            arr = value
        else:
            try:
                arr = np.asarray(value)
            except ValueError as exc:  # NumPy's "setting an array element with a sequence"
                ragged = "inhomogeneous" in str(exc) or "with a sequence" in str(exc)
                what = "a ragged nested list (its rows have different lengths)" if ragged else repr(type(value))
                raise InputError(
                    f"{self._label()}: input {k} ({inp.name or 'unnamed'}) expects a {typ.ndim}-d {typ.dtype} array "
                    f"of shape {shape_str(typ.shape)}, got {what}, which cannot be made one"
                    + ("; give rows of equal lengths" if ragged else f": {exc}")
                ) from None
            if arr.dtype != typ.dtype:
                if arr.dtype.kind in "biu" and typ.dtype[0] in "iu" and not np.can_cast(arr.dtype, typ.dtype):
                    ok = _ints_fit(arr, typ.dtype)  # int64 data into an int32 input: only if no value wraps
                else:
                    ok = np.can_cast(arr.dtype, typ.dtype, "same_kind") or (
                        arr.dtype.kind in "biu" and typ.dtype[0] in "fiub" and _ints_fit(arr, typ.dtype)
                    )
                if not ok:
                    raise InputError(
                        f"{self._label()}: input {k} ({inp.name or 'unnamed'}) expects {typ.dtype}, got "
                        f"{arr.dtype} data; a cast from {arr.dtype} to {typ.dtype} could lose information"
                    )
                arr = arr.astype(typ.dtype)
            if arr.ndim != typ.ndim:
                raise InputError(
                    f"{self._label()}: input {k} ({inp.name or 'unnamed'}) expects a {typ.ndim}-d array, "
                    f"got shape {arr.shape}"
                )
        for axis, (want, got) in enumerate(zip(typ.shape, arr.shape)):
            if want is not None and want != got:
                raise InputError(
                    f"{self._label()}: input {k} ({inp.name or 'unnamed'}) expects shape {shape_str(typ.shape)}, "
                    f"got {arr.shape} (axis {axis})"
                )
        return arr

    def _label(self) -> str:
        return f"function {self.name!r}" if self.name else "function"

    def _pack(self, results: list[Any]) -> Any:
        spec = self.output_spec
        if spec == "single":
            return results[0]
        if spec == "none":
            return []
        if isinstance(spec, list):
            return dict(zip(spec, results))
        return results

    def source(self) -> str:
        """What the backend runs for this function (generated C or CUDA, or the node schedule)."""
        return self.thunk.source()

    def profile(self) -> Any:
        """Per-node time, call counts and share of the total, printable as a table."""
        return self.thunk.profile()

    def __reduce__(self) -> tuple:
        # What travels is the graph as the user gave it (with its shared variables' values), not
        # generated code: unpickling compiles again, which the C backend's disk cache makes a load.
        if self.compile_args is None:
            raise TypeError("this Function was not made by symdl.function and cannot be pickled")
        return (_recompile, (self.compile_args,))


def _recompile(compile_args: dict[str, Any]) -> Function:
    return function(**compile_args)


class _Maker:
    def __init__(self, fgraph: FunctionGraph):
        self.fgraph = fgraph


def _ints_fit(arr: np.ndarray, dtype: str) -> bool:
    if np.dtype(dtype).kind == "f":
        return True
    if arr.size == 0:
        return True
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    return info is not None and arr.min() >= info.min and arr.max() <= info.max


def _owned(value: Any, held: set[int]) -> Any:
    """Outputs belong to the caller: views, read-only constants and arrays in ``held`` are copied."""
    if isinstance(value, np.ndarray) and (id(value) in held or value.base is not None or not value.flags.writeable):
        return value.copy()
    return value


class _StructuredFunction:
    """A function some of whose inputs or outputs are made of several tensors (a ``symdl.sparse``
    matrix: values, indices, pointers, shape). Such a variable has ``symdl_parts()`` (its
    tensors), ``symdl_split(value)`` (a value as arrays for them) and ``symdl_join(arrays)``; the
    compiled function in between sees only the parts. Its attributes are the inner function's."""

    def __init__(self, fn: Function, inputs: list, outputs: list, spec: Any):
        self.fn, self._inputs, self._outputs, self._spec = fn, inputs, outputs, spec

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self._inputs):
            raise InputError(f"function takes {len(self._inputs)} inputs, got {len(args)}")
        flat: list[Any] = []
        for inp, value in zip(self._inputs, args):
            flat.extend(inp.symdl_split(value) if _is_structured(inp) else [value])
        values = iter(self.fn(*flat))
        results = []
        for out in self._outputs:
            if _is_structured(out):
                results.append(out.symdl_join([next(values) for _ in out.symdl_parts()]))
            else:
                results.append(next(values))
        if self._spec == "single":
            return results[0]
        return dict(zip(self._spec, results)) if isinstance(self._spec, list) else results

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fn, name)


def _is_structured(v: Any) -> bool:
    return hasattr(v, "symdl_parts")


def _structured_function(compile_args: dict[str, Any]) -> _StructuredFunction:
    inputs, outputs = list(compile_args["inputs"]), compile_args["outputs"]
    if isinstance(outputs, dict):
        spec, given = list(outputs.keys()), list(outputs.values())
    elif isinstance(outputs, list | tuple):
        spec, given = "list", list(outputs)
    else:
        spec, given = "single", [outputs]
    flat_inputs = [p for v in inputs for p in (v.symdl_parts() if _is_structured(v) else [v])]
    flat_outputs = [p for v in given for p in (v.symdl_parts() if _is_structured(v) else [v])]
    fn = function(**{**compile_args, "inputs": flat_inputs, "outputs": flat_outputs})
    return _StructuredFunction(fn, inputs, given, spec)


def function(
    inputs: Sequence[Any],
    outputs: Any = None,
    updates: Any = None,
    givens: Any = None,
    mode: str | None = None,
    on_unused_input: str = "raise",
    allow_input_downcast: bool | None = None,
    name: str | None = None,
    no_default_updates: bool = False,
    optimizer: str | None = None,
    optimizer_excluding: Sequence[str] | str | None = None,
    optimizer_including: Sequence[str] | str | None = None,
    device: str | None = None,
) -> Function:
    """Compile ``inputs -> outputs`` (a variable, a list or a dict), applying ``updates`` to shared
    variables after every call. ``givens`` substitutes variables before compiling.

    ``mode`` picks the backend ('py', 'c', 'cuda'; default from ``symdl.config``); ``optimizer``
    is 'fast_run', 'fast_compile' or 'none'.
    """
    compile_args = dict(locals())  # the arguments as given, for pickling (read before any other local)
    from symdl.backend import resolve_backend

    if not isinstance(inputs, list | tuple):
        raise TypeError(f"function: inputs must be a list, got {type(inputs).__name__}")
    given_outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs
    if any(map(_is_structured, [*inputs, *(given_outputs if isinstance(given_outputs, list | tuple) else [outputs])])):
        return _structured_function(compile_args)
    ins = [i if isinstance(i, In) else In(i) for i in inputs]
    in_vars = [i.variable for i in ins]
    # an input computed from other variables cuts the graph there, as Theano's: a fresh variable
    # of its dtype and dimensions takes its place (its own graph is not computed; the sizes its
    # graph implied are not asked of the value, except a size 1, as Theano's broadcastable flags)
    cuts: dict[Variable, Variable] = {}
    for k, v in enumerate(in_vars):
        if isinstance(v, Variable) and v.owner is not None:
            typ = v.type
            if isinstance(typ, TensorType):
                typ = TensorType(typ.dtype, tuple(1 if d == 1 else None for d in typ.shape))
            fresh = typ.make_variable(name=v.name)
            fresh.trace = v.trace
            cuts[v] = fresh
            ins[k] = In(fresh, ins[k].value, ins[k].name, ins[k].borrow)
            in_vars[k] = fresh
    for k, v in enumerate(in_vars):
        if not isinstance(v, Variable):
            raise TypeError(f"function: input {k} is not a symbolic variable but {type(v).__name__}")
        if isinstance(v, Constant):
            raise TypeError(f"function: input {k} is a constant; constants cannot be inputs")
        if getattr(v, "is_shared", False):
            raise TypeError(f"function: {describe(v)} is a shared variable; shared variables are implicit inputs")
    if len(set(in_vars)) != len(in_vars):
        raise ValueError("function: the same variable is given twice as an input")

    if outputs is None:
        spec, given = "none", []
    elif isinstance(outputs, dict):
        spec, given = list(outputs.keys()), list(outputs.values())
    elif isinstance(outputs, list | tuple):
        spec, given = "list", list(outputs)
    else:
        spec, given = "single", [outputs]
    unwrapped = [_unwrap_out(o) for o in given]
    out_list = [v for v, _ in unwrapped]
    borrowed = [k for k, (_, borrow) in enumerate(unwrapped) if borrow]

    update_pairs = _normalize_updates(updates)
    given_map = _normalize_givens(givens)
    compile_args.update(updates=list(update_pairs), givens=dict(given_map))  # generators are spent now
    targets = out_list + [e for _, e in update_pairs]
    if given_map or cuts:
        targets = clone_replace(targets, {**given_map, **cuts})
    if not no_default_updates:
        updated = {v for v, _ in update_pairs}
        extra = True
        while extra:
            extra = False
            for var in graph_inputs(targets):
                if getattr(var, "is_shared", False) and var.default_update is not None and var not in updated:
                    update_pairs.append((var, var.default_update))
                    targets.append(var.default_update)
                    updated.add(var)
                    extra = True

    used = ancestors(targets)
    for inp in ins:
        if inp.variable not in used:
            message = (
                f"function: input {inp.name or inp.variable} is not used to compute the outputs; "
                "pass on_unused_input='ignore' or 'warn' to allow it"
            )
            if on_unused_input == "raise":
                raise UnusedInputError(message)
            if on_unused_input == "warn":
                warnings.warn(message, stacklevel=2)
    shared_inputs = [v for v in graph_inputs(targets) if getattr(v, "is_shared", False)]
    fgraph = FunctionGraph(in_vars + shared_inputs, targets, clone=True)
    shared_position = {var: len(in_vars) + k for k, var in enumerate(shared_inputs)}
    fgraph.update_mapping = {
        len(out_list) + k: shared_position[var] for k, (var, _) in enumerate(update_pairs) if var in shared_position
    }
    settings = (
        optimizer or config.optimizer,
        optimizer_excluding if optimizer_excluding is not None else config.optimizer_excluding,
        optimizer_including if optimizer_including is not None else config.optimizer_including,
    )
    backend = resolve_backend(mode, device)
    fn = Function(ins, spec, len(out_list), update_pairs, fgraph, shared_inputs, backend, name, settings)
    if borrowed:
        fn.thunk.borrow_outputs(borrowed)
    fn.compile_args = compile_args
    return fn
