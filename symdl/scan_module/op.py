"""The ``Scan`` op: a loop whose body is a graph of its own, run ``n_steps`` times.

One node computes a whole loop. Its body (``fgraph``) has, in this order, inputs for

- each sequence's taps (the sequence's row at step ``t + tap - min(taps)``),
- each recurrent state's taps (its value ``-tap`` steps ago),
- the loop-invariant values (``non_sequences``, then free variables the body used),

and outputs for each recurrent state's new value, each output not fed back, and the stopping
condition of a while loop (``until``). A shared variable that the body updates (a random stream
drawn in the body, an explicit update) is a recurrent state like the others: ``symdl.scan``
returns its last value as the variable's update.

The node's inputs are ``n_steps``, the sequences, each state's initial rows (a leading axis of
``depth`` rows, the oldest first) and the invariants; its outputs are each state's values at
every step (the initial rows excluded) and each other output's values. ``symdl.scan`` builds it;
users never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symdl.compile.builders import InnerGraphOp
from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Variable
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


@dataclass(frozen=True)
class ScanInfo:
    """What a ``Scan`` is besides its body: how the body's inputs and outputs are grouped."""

    seq_taps: tuple[tuple[int, ...], ...]
    state_taps: tuple[tuple[int, ...], ...]  # negative
    n_nit: int
    n_invariants: int
    as_while: bool = False
    name: str = "scan"
    # per state: how many last rows its output holds (None: every step's, the initial rows
    # excluded; k: the last k rows of the initial rows followed by the steps'); () for all None
    keep: tuple[int | None, ...] = ()
    # groups of body-input dimensions, each ((input index, axis), ...), that the graph around the
    # loop proves equal at run time (the batch size of every state and sequence row); the body's
    # rewrites use it to drop shape work (``reduce_to_shape``) and fuse across the inputs
    equal_dims: tuple[tuple[tuple[int, int], ...], ...] = ()
    # per output not fed back: whether step t's value is stored in row n_steps - 1 - t (its rows
    # in the reverse order of the steps, as a gradient loop's readers want them); () for none
    reversed_rows: tuple[bool, ...] = ()

    def kept_rows(self, state: int) -> int | None:
        return self.keep[state] if self.keep else None

    def rows_reversed(self, nit: int) -> bool:
        return bool(self.reversed_rows) and self.reversed_rows[nit]

    def nit_row(self, nit: int, step: int, n_steps: int) -> int:
        """The row of output not fed back ``nit`` that step ``step`` of ``n_steps`` fills."""
        return n_steps - 1 - step if self.rows_reversed(nit) else step

    @property
    def n_seqs(self) -> int:
        return len(self.seq_taps)

    @property
    def n_states(self) -> int:
        return len(self.state_taps)

    def depth(self, state: int) -> int:
        """How many past values of state ``state`` the body reads (rows of its initial value)."""
        return max(-t for t in self.state_taps[state])

    def span(self, seq: int) -> int:
        """How many rows more than the number of steps sequence ``seq`` needs."""
        taps = self.seq_taps[seq]
        return max(taps) - min(taps)

    @property
    def n_inner_inputs(self) -> int:
        return sum(map(len, self.seq_taps)) + sum(map(len, self.state_taps)) + self.n_invariants

    @property
    def n_inner_outputs(self) -> int:
        return self.n_states + self.n_nit + int(self.as_while)


class Scan(InnerGraphOp):
    """A loop (see the module docstring); ``symdl.scan`` makes it."""

    def __init__(self, inner_inputs: Sequence[Variable], inner_outputs: Sequence[Variable], info: ScanInfo):
        if len(inner_inputs) != info.n_inner_inputs or len(inner_outputs) != info.n_inner_outputs:
            raise ValueError(f"{info.name}: the body's inputs and outputs do not match {info}")
        if info.reversed_rows and (len(info.reversed_rows) != info.n_nit or info.as_while):
            raise ValueError(f"{info.name}: reversed rows need one flag per output not fed back, and a for loop")
        self._set_graph(inner_inputs, inner_outputs, info)
        self.prepare_body(self.fgraph)
        self.name = info.name
        self._grad_cache: dict[Any, Any] = {}

    def __reduce__(self) -> tuple:
        return (Scan, (self.fgraph.inputs, self.fgraph.outputs, self.info))

    def __str__(self) -> str:
        return self.name

    def prepare_body(self, body: Any) -> None:
        """Tell the shape analysis of ``body`` (the body or a copy) which input dimensions are equal."""
        from symdl.rewrite.shapes import seed_equal_dims

        inputs = body.inputs
        seed_equal_dims(body, [[(inputs[j], axis) for j, axis in group] for group in self.info.equal_dims])

    # -------------------------------------------------------------- groups
    def inner_groups(self, body: Any = None) -> dict[str, list]:
        """The body's inputs and outputs by group (see the module docstring); ``body``: a
        rewritten copy of the body (same order and counts) to group instead."""
        body = body if body is not None else self.fgraph
        info, ins, outs = self.info, list(body.inputs), list(body.outputs)
        groups: dict[str, list] = {"seqs": [], "states": []}
        for taps in info.seq_taps:
            groups["seqs"].append(ins[: len(taps)])
            ins = ins[len(taps) :]
        for taps in info.state_taps:
            groups["states"].append(ins[: len(taps)])
            ins = ins[len(taps) :]
        groups["invariants"] = ins
        groups["state_out"], outs = outs[: info.n_states], outs[info.n_states :]
        groups["nit_out"], outs = outs[: info.n_nit], outs[info.n_nit :]
        groups["until"] = outs
        return groups

    def outer_groups(self, inputs: Sequence[Any]) -> dict[str, list]:
        """The node's inputs by group: n_steps, seqs, inits, invariants."""
        info = self.info
        rest = list(inputs[1:])
        groups = {"n_steps": inputs[0]}
        for key, n in (("seqs", info.n_seqs), ("inits", info.n_states)):
            groups[key], rest = rest[:n], rest[n:]
        groups["invariants"] = rest
        return groups

    def body_input_sources(self, inputs: Sequence[Any]) -> list[tuple[Any, int]]:
        """Per body input, the node's input it comes from (taken from ``inputs``) and the shift of
        its axes there: its dimension j is dimension j + 1 of its sequence or initial value, j of
        an invariant."""
        outer, inner = self.outer_groups(inputs), self.inner_groups()
        sources: list[tuple[Any, int]] = []
        for value, vars_ in zip(outer["seqs"], inner["seqs"]):
            sources += [(value, 1)] * len(vars_)
        for value, vars_ in zip(outer["inits"], inner["states"]):
            sources += [(value, 1)] * len(vars_)
        return sources + [(value, 0) for value in outer["invariants"]]

    # -------------------------------------------------------------- the node
    def make_node(self, *inputs: Any) -> Apply:
        info = self.info
        inputs = [as_tensor_variable(v) for v in inputs]
        expected = 1 + info.n_seqs + info.n_states + info.n_invariants
        if len(inputs) != expected:
            raise TypeError(f"{self.name} takes {expected} inputs, got {len(inputs)}")
        outer, inner = self.outer_groups(inputs), self.inner_groups()
        n_steps = outer["n_steps"]
        if n_steps.ndim != 0 or n_steps.dtype[0] not in "iu":
            raise TypeMismatch(f"{self.name}: n_steps must be an integer scalar, got {n_steps.type}")
        for k, (seq, taps) in enumerate(zip(outer["seqs"], inner["seqs"])):
            _check_rows(self.name, f"sequence {k}", seq, taps[0])
        for k, (init, taps) in enumerate(zip(outer["inits"], inner["states"])):
            _check_rows(self.name, f"the initial value of output {k}", init, taps[0])
        for value, var in zip(outer["invariants"], inner["invariants"]):
            if value.dtype != var.dtype or value.ndim != var.ndim:
                raise TypeMismatch(f"{self.name}: {describe(value)} is {value.type}, the body expects {var.type}")
        length = None
        if isinstance(n_steps, Constant) and not info.as_while:
            length = int(np.asarray(n_steps.data))
        out_types = []
        for k, (init, out) in enumerate(zip(outer["inits"], inner["state_out"])):
            shape = tuple(a if a is not None else b for a, b in zip(out.type.shape, init.type.shape[1:]))
            rows = length if info.kept_rows(k) is None else None
            out_types.append(TensorType(out.dtype, (rows, *shape)))
        out_types += [TensorType(out.dtype, (length, *out.type.shape)) for out in inner["nit_out"]]
        return Apply(self, inputs, out_types)

    def perform(self, node: Apply, inputs: Sequence[Any]) -> list:
        return self.run_with(node, inputs, [self.inner_thunk()], HOST_ROWS)

    def run_with(self, node: Apply, inputs: Sequence[Any], bodies: Sequence[Any], rows: Any) -> list:
        """Run the loop on the node's input values: ``bodies[0](args) -> outputs`` runs one step
        and ``rows`` (see ``HostRows``) allocates, reads and writes the values' rows, so that the
        same driver runs on NumPy arrays (``perform``) and on device arrays (CUDA)."""
        info = self.info
        (body,) = bodies
        outer = self.outer_groups(inputs)
        n = int(rows.scalar(outer["n_steps"]))
        if n < 0:
            raise ValueError(f"{self.name}: n_steps is {n}; it must not be negative")
        seqs = [rows.value(s) for s in outer["seqs"]]
        for k, seq in enumerate(seqs):
            if seq.shape[0] < n + info.span(k):
                raise ShapeError(
                    f"{self.name}: sequence {k} has {seq.shape[0]} rows; {n} steps with taps "
                    f"{list(info.seq_taps[k])} need {n + info.span(k)}"
                )
        stores = []
        for k, init in enumerate(outer["inits"]):
            depth = info.depth(k)
            init = rows.value(init)
            if init.shape[0] != depth:
                raise ShapeError(
                    f"{self.name}: the initial value of output {k} has {init.shape[0]} rows, its taps need {depth}"
                )
            store = rows.empty((depth + n, *init.shape[1:]), node.outputs[k].dtype, k)
            rows.set_rows(store, 0, init)
            stores.append(store)
        nits: list[Any] = [None] * info.n_nit
        done = n
        for t in range(n):
            args = []
            for seq, taps in zip(seqs, info.seq_taps):
                low = min(taps)
                args += [rows.row(seq, t + tap - low) for tap in taps]
            for k, (store, taps) in enumerate(zip(stores, info.state_taps)):
                depth = info.depth(k)
                args += [rows.row(store, depth + t + tap) for tap in taps]
            args += list(outer["invariants"])
            results = body(args)
            for k, (store, value) in enumerate(zip(stores, results[: info.n_states])):
                if tuple(np.shape(value)) != tuple(store.shape[1:]):
                    raise ShapeError(
                        f"{self.name}: step {t} returned output {k} of shape {np.shape(value)}, but the "
                        f"output's initial value has shape {tuple(store.shape[1:])} (a recurrent output keeps its shape)"
                    )
                rows.set_row(store, info.depth(k) + t, value)
            rest = results[info.n_states :]
            for k, value in enumerate(rest[: info.n_nit]):
                shape = tuple(np.shape(value))
                if nits[k] is None:
                    nits[k] = rows.empty((n, *shape), node.outputs[info.n_states + k].dtype, info.n_states + k)
                elif shape != tuple(nits[k].shape[1:]):
                    raise ShapeError(
                        f"{self.name}: step {t} returned output {info.n_states + k} of shape {shape}, "
                        f"step 0 of shape {tuple(nits[k].shape[1:])}"
                    )
                rows.set_row(nits[k], info.nit_row(k, t, n), value)
            if info.as_while and bool(rows.scalar(rest[info.n_nit])):
                done = t + 1
                break
        outputs = []
        for k, store in enumerate(stores):
            depth, keep = info.depth(k), info.kept_rows(k)
            end = depth + done
            outputs.append(
                rows.rows(store, depth, end) if keep is None else rows.rows(store, max(end - keep, 0), end, copy=True)
            )
        for k, values in enumerate(nits):
            if values is None:  # no step ran: a row's shape follows from the inputs' shapes
                out = node.outputs[info.n_states + k]
                row = self._row_shape(k, outer, seqs, stores, rows)
                values = rows.empty((0, *row), out.dtype, info.n_states + k)
            outputs.append(rows.rows(values, 0, done))
        return outputs

    def _row_shape(self, k: int, outer: dict, seqs: list, stores: list, rows: Any) -> tuple[int, ...]:
        """The shape of a row of output not fed back ``k``, for a loop of no steps: from the
        inputs' shapes where the shape rules tell, else from one evaluation of the body on rows
        of zeros (whose values are discarded)."""
        from symdl.rewrite.shapes import dim_key

        info, inner = self.info, self.inner_groups()
        inner_out = inner["nit_out"][k]
        shapes: dict[Variable, tuple[int, ...]] = {}
        for value, taps in zip(seqs, inner["seqs"]):
            shapes.update((v, value.shape[1:]) for v in taps)
        for store, taps in zip(stores, inner["states"]):
            shapes.update((v, store.shape[1:]) for v in taps)
        shapes.update(zip(inner["invariants"], (np.shape(v) for v in outer["invariants"])))
        row = []
        for i, known in enumerate(inner_out.type.shape):
            key = dim_key(self.fgraph, inner_out, i) if known is None else ("c", known)
            if key is not None and key[0] == "c":
                row.append(int(key[1]))
            elif key is not None and key[0] == "d" and key[1] in shapes:
                row.append(shapes[key[1]][key[2]])
            else:
                break
        else:
            return tuple(row)
        args = [np.zeros(shapes[v], dtype=v.dtype) for v in self.fgraph.inputs[: -info.n_invariants or None]]
        args += [rows.host(v) for v in outer["invariants"]]
        try:
            with np.errstate(all="ignore"):
                value = self.inner_thunk()(args)[info.n_states + k]
        except Exception as exc:
            raise ShapeError(
                f"{self.name}: with 0 steps the shape of output {info.n_states + k}'s rows is unknown"
            ) from exc
        return np.shape(value)

    def infer_shape(self, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list:
        from symdl.rewrite.shapes import dim_key

        info = self.info
        if info.as_while:
            raise NotImplementedError("a while loop's length is known when it has run")
        positions = list(range(len(node.inputs)))
        outer, inner = self.outer_groups(positions), self.inner_groups()
        source = dict(zip(self.fgraph.inputs, self.body_input_sources(positions)))
        n_steps = node.inputs[0]
        shapes = []
        for k in range(len(node.outputs)):
            if k < info.n_states:
                # the rows a state keeps depend on the number of steps run: unknown (None)
                rows = n_steps if info.kept_rows(k) is None else None
                init_shape = input_shapes[outer["inits"][k]]
                shapes.append([rows, *init_shape[1:]])
                continue
            inner_out = inner["nit_out"][k - info.n_states]
            dims = [n_steps]
            for i in range(inner_out.ndim):
                key = dim_key(self.fgraph, inner_out, i)
                if key is not None and key[0] == "c":
                    dims.append(key[1])
                elif key is not None and key[0] == "d" and key[1] in source:
                    position, shift = source[key[1]]
                    dims.append(input_shapes[position][key[2] + shift])
                else:
                    dims.append(None)  # computed from values
            shapes.append(dims)
        return shapes

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        from symdl.scan_module.grad import scan_gradient

        return scan_gradient(self, inputs, outputs, output_grads)


def _check_rows(opname: str, what: str, outer: Variable, inner: Variable) -> None:
    """``outer`` holds rows of ``inner``'s type: one more dimension, the same dtype and row shape."""
    if outer.dtype != inner.dtype or outer.ndim != inner.ndim + 1:
        raise TypeMismatch(
            f"{opname}: {what} is {outer.type}; the body reads rows of type {inner.type} ({describe(outer)})"
        )


class HostRows:
    """How ``Scan.run_with`` handles NumPy values; the CUDA backend passes one for device arrays."""

    @staticmethod
    def scalar(value: Any) -> Any:
        return np.asarray(value)

    @staticmethod
    def value(value: Any) -> np.ndarray:
        return np.asarray(value)

    @staticmethod
    def host(value: Any) -> np.ndarray:
        """A value as a NumPy array (for a NumPy evaluation of the body)."""
        return np.asarray(value)

    @staticmethod
    def empty(shape: tuple[int, ...], dtype: str, output: int) -> np.ndarray:
        """An array for the rows of the node's output ``output``."""
        return np.empty(shape, dtype=dtype)

    @staticmethod
    def row(array: np.ndarray, i: int) -> np.ndarray:
        return array[i]

    @staticmethod
    def set_row(array: np.ndarray, i: int, value: Any) -> None:
        array[i] = value

    @staticmethod
    def set_rows(array: np.ndarray, start: int, values: np.ndarray) -> None:
        array[start : start + len(values)] = values

    @staticmethod
    def rows(array: np.ndarray, start: int, stop: int, copy: bool = False) -> np.ndarray:
        return array[start:stop].copy() if copy else array[start:stop]


HOST_ROWS = HostRows()
