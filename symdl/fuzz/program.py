"""A fuzz program: inputs with values, a list of op nodes, outputs; and its symdl and NumPy sources.

A program is plain data. Each op is a pair of source templates, one in symdl and one in NumPy,
so the code the fuzzer runs is the code a reproducer prints: ``symdl_source`` and
``numpy_source`` render a program, and the checker executes exactly those strings.

>>> import numpy as np
>>> p = Program([Input("x0", np.array([1.0, -2.0]), (None,))], [Node("v0", "exp", ("x0",))], ["v0"])
>>> print(symdl_source(p).splitlines()[1])
v0 = T.exp(x0)
>>> print(numpy_source(p).splitlines()[1])
    v0 = np.exp(x0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Lit:
    """A weak Python scalar operand (an int, float or bool written into the source)."""

    value: Any


@dataclass(frozen=True)
class Code:
    """A parameter written into the source as it is (an index expression such as ``1:, [0, 2]``)."""

    text: str


@dataclass
class Input:
    """A symbolic input: its name, the value it is called with, and its static shape (None: unknown)."""

    name: str
    value: np.ndarray
    static: tuple


@dataclass
class Node:
    """``name = op(args, params)``: arguments are names of earlier inputs or nodes, or weak scalars (``Lit``)."""

    name: str
    op: str
    args: tuple
    params: dict = field(default_factory=dict)


@dataclass
class Program:
    """Inputs, then nodes in order; outputs are names of inputs or nodes.

    With ``grad``, the float64 inputs named in ``wrt`` are differentiated: the cost is the sum of
    each output times a fixed projection (the inputs named ``w0``, ``w1``, ...).
    """

    inputs: list[Input]
    nodes: list[Node]
    outputs: list[str]
    grad: bool = False
    wrt: tuple = ()
    projections: list[np.ndarray] = field(default_factory=list)


# Each op: (symdl template, NumPy template). {0}, {1}, ... are the arguments; {name} a parameter.
OPS: dict[str, tuple[str, str]] = {
    # elementwise, unary
    "neg": ("-{0}", "np.negative({0})"),
    "abs": ("T.abs({0})", "np.abs({0})"),
    "exp": ("T.exp({0})", "np.exp({0})"),
    "log": ("T.log({0})", "np.log({0})"),
    "log1p": ("T.log1p({0})", "np.log1p({0})"),
    "expm1": ("T.expm1({0})", "np.expm1({0})"),
    "sqrt": ("T.sqrt({0})", "np.sqrt({0})"),
    "sin": ("T.sin({0})", "np.sin({0})"),
    "cos": ("T.cos({0})", "np.cos({0})"),
    "tanh": ("T.tanh({0})", "np.tanh({0})"),
    "arctan": ("T.arctan({0})", "np.arctan({0})"),
    "erf": ("T.erf({0})", "ref.erf({0})"),
    "sigmoid": ("T.sigmoid({0})", "ref.sigmoid({0})"),
    "softplus": ("T.softplus({0})", "ref.softplus({0})"),
    "sqr": ("T.sqr({0})", "np.square({0})"),
    "floor": ("T.floor({0})", "np.floor({0})"),
    "ceil": ("T.ceil({0})", "np.ceil({0})"),
    "round": ("T.round({0})", "np.round({0})"),
    "sign": ("T.sign({0})", "np.sign({0})"),
    "isnan": ("T.isnan({0})", "np.isnan({0})"),
    "isinf": ("T.isinf({0})", "np.isinf({0})"),
    "isfinite": ("T.isfinite({0})", "np.isfinite({0})"),
    "logical_not": ("T.logical_not({0})", "np.logical_not({0})"),
    "invert": ("T.invert({0})", "np.invert({0})"),
    "cast": ("T.cast({0}, {dtype})", "np.asarray({0}).astype({dtype})"),
    "clip": ("T.clip({0}, {lo}, {hi})", "np.clip({0}, {lo}, {hi})"),
    # elementwise, binary (either side may be a weak Python scalar)
    "add": ("{0} + {1}", "np.add({0}, {1})"),
    "sub": ("{0} - {1}", "np.subtract({0}, {1})"),
    "mul": ("{0} * {1}", "np.multiply({0}, {1})"),
    "true_div": ("{0} / {1}", "np.true_divide({0}, {1})"),
    "floor_div": ("{0} // {1}", "np.floor_divide({0}, {1})"),
    "mod": ("{0} % {1}", "np.mod({0}, {1})"),
    "pow": ("{0} ** {1}", "np.power({0}, {1})"),
    "maximum": ("T.maximum({0}, {1})", "np.maximum({0}, {1})"),
    "minimum": ("T.minimum({0}, {1})", "np.minimum({0}, {1})"),
    "arctan2": ("T.arctan2({0}, {1})", "np.arctan2({0}, {1})"),
    "lt": ("T.lt({0}, {1})", "np.less({0}, {1})"),
    "le": ("T.le({0}, {1})", "np.less_equal({0}, {1})"),
    "gt": ("T.gt({0}, {1})", "np.greater({0}, {1})"),
    "ge": ("T.ge({0}, {1})", "np.greater_equal({0}, {1})"),
    "eq": ("T.eq({0}, {1})", "np.equal({0}, {1})"),
    "neq": ("T.neq({0}, {1})", "np.not_equal({0}, {1})"),
    "logical_and": ("T.logical_and({0}, {1})", "np.logical_and({0}, {1})"),
    "logical_or": ("T.logical_or({0}, {1})", "np.logical_or({0}, {1})"),
    "bitwise_and": ("{0} & {1}", "np.bitwise_and({0}, {1})"),
    "bitwise_or": ("{0} | {1}", "np.bitwise_or({0}, {1})"),
    "bitwise_xor": ("{0} ^ {1}", "np.bitwise_xor({0}, {1})"),
    "switch": ("T.switch({0}, {1}, {2})", "np.where({0}, {1}, {2})"),
    # reductions
    "sum": ("T.sum({0}, axis={axis}, keepdims={keepdims})", "np.sum({0}, axis={axis}, keepdims={keepdims})"),
    "prod": ("T.prod({0}, axis={axis}, keepdims={keepdims})", "np.prod({0}, axis={axis}, keepdims={keepdims})"),
    "mean": ("T.mean({0}, axis={axis}, keepdims={keepdims})", "np.mean({0}, axis={axis}, keepdims={keepdims})"),
    "max": ("T.max({0}, axis={axis}, keepdims={keepdims})", "np.max({0}, axis={axis}, keepdims={keepdims})"),
    "min": ("T.min({0}, axis={axis}, keepdims={keepdims})", "np.min({0}, axis={axis}, keepdims={keepdims})"),
    "all": ("T.all({0}, axis={axis}, keepdims={keepdims})", "np.all({0}, axis={axis}, keepdims={keepdims})"),
    "any": ("T.any({0}, axis={axis}, keepdims={keepdims})", "np.any({0}, axis={axis}, keepdims={keepdims})"),
    "var": ("T.var({0}, axis={axis}, keepdims={keepdims})", "np.var({0}, axis={axis}, keepdims={keepdims})"),
    "std": ("T.std({0}, axis={axis}, keepdims={keepdims})", "np.std({0}, axis={axis}, keepdims={keepdims})"),
    "argmax": ("T.argmax({0}, axis={axis}, keepdims={keepdims})", "np.argmax({0}, axis={axis}, keepdims={keepdims})"),
    "argmin": ("T.argmin({0}, axis={axis}, keepdims={keepdims})", "np.argmin({0}, axis={axis}, keepdims={keepdims})"),
    "logsumexp": ("T.logsumexp({0}, axis={axis}, keepdims={keepdims})", "ref.logsumexp({0}, {axis}, {keepdims})"),
    # shapes
    "reshape": ("T.reshape({0}, {shape})", "np.reshape({0}, {shape})"),
    "dimshuffle": ("T.dimshuffle({0}, {pattern})", "ref.dimshuffle({0}, {pattern})"),
    "transpose": ("T.transpose({0}, {axes})", "np.transpose({0}, {axes})"),
    "flatten": ("T.flatten({0}, {ndim})", "ref.flatten({0}, {ndim})"),
    "concatenate": ("T.concatenate([{0}, {1}], axis={axis})", "np.concatenate([{0}, {1}], axis={axis})"),
    # indexing
    "index": ("{0}[{index}]", "np.asarray({0})[{index}]"),
    "inc_subtensor": ("T.inc_subtensor({0}[{index}], {1})", "ref.inc_subtensor({0}, np.s_[{index}], {1})"),
    "set_subtensor": ("T.set_subtensor({0}[{index}], {1})", "ref.set_subtensor({0}, np.s_[{index}], {1})"),
    # linear algebra and networks
    "dot": ("T.dot({0}, {1})", "np.dot({0}, {1})"),
    "conv2d": (
        "T.nnet.conv2d({0}, {1}, border_mode={border_mode}, subsample={subsample}, filter_flip={filter_flip})",
        "ref.conv2d({0}, {1}, {border_mode}, {subsample}, {filter_flip})",
    ),
    "pool_2d": (
        "pool_2d({0}, ws={ws}, ignore_border={ignore_border}, stride={stride}, pad={pad}, mode={mode})",
        "ref.pool_2d({0}, {ws}, {ignore_border}, {stride}, {pad}, {mode})",
    ),
    "softmax": ("T.nnet.softmax({0}, axis={axis})", "ref.softmax({0}, {axis})"),
    "log_softmax": ("T.nnet.log_softmax({0}, axis={axis})", "ref.log_softmax({0}, {axis})"),
}


def literal(value: Any) -> str:
    """Python source for a parameter or scalar (special floats as ``np.nan``, ``-np.inf``)."""
    if isinstance(value, Code):
        return value.text
    if isinstance(value, bool | str | None | np.bool_):
        return repr(value if not isinstance(value, np.bool_) else bool(value))
    if isinstance(value, int | np.integer):
        return repr(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "-np.inf"
        return repr(value)
    if isinstance(value, tuple | list):
        parts = [literal(v) for v in value]
        if isinstance(value, list):
            return "[" + ", ".join(parts) + "]"
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    raise TypeError(f"no literal for {value!r}")


def array_literal(value: np.ndarray) -> str:
    """Source that rebuilds ``value`` exactly (dtype, shape, -0.0, NaN, infinities and denormals)."""
    value = np.asarray(value)
    flat = ", ".join(literal(v.item()) for v in value.reshape(-1))
    if value.ndim == 1:
        return f"np.array([{flat}], dtype={value.dtype.name!r})"
    return f"np.array([{flat}], dtype={value.dtype.name!r}).reshape({literal(value.shape)})"


def _scalar_source(value: Any) -> str:
    """A weak scalar operand, in parentheses when negative (``(-2) ** x``, not ``-2 ** x``)."""
    text = literal(value)
    return f"({text})" if text.startswith("-") else text


def node_source(node: Node, which: int) -> str:
    """The right-hand side of ``node`` in symdl (``which`` 0) or NumPy (1)."""
    args = [_scalar_source(a.value) if isinstance(a, Lit) else a for a in node.args]
    params = {k: literal(v) for k, v in node.params.items()}
    return OPS[node.op][which].format(*args, **params)


def symdl_source(program: Program) -> str:
    """The program in symdl: input declarations, one line per node, then ``outputs`` (and the gradients)."""
    lines = [
        f"{i.name} = T.tensor({i.value.dtype.name!r}, shape={literal(i.static)}, name={i.name!r})"
        for i in program.inputs
    ]
    lines += [f"{node.name} = {node_source(node, 0)}" for node in program.nodes]
    outs = ", ".join(program.outputs)
    if program.grad:
        lines.append(f"outputs = [{outs}]")
        proj = ", ".join(f"w{k}" for k in range(len(program.outputs)))
        for k, projection in enumerate(program.projections):
            static = literal((None,) * np.ndim(projection))
            lines.append(f"w{k} = T.tensor('float64', shape={static}, name='w{k}')")
        lines.append(f"cost = sum(T.sum(o * w) for o, w in zip(outputs, [{proj}]))")
        lines.append(f"outputs = [cost, *symdl.grad(cost, [{', '.join(program.wrt)}])]")
    else:
        lines.append(f"outputs = [{outs}]")
    return "\n".join(lines) + "\n"


def input_names(program: Program) -> list[str]:
    """The compiled function's inputs, in order (projections last for a gradient program)."""
    names = [i.name for i in program.inputs]
    return names + [f"w{k}" for k in range(len(program.projections))] if program.grad else names


def numpy_source(program: Program) -> str:
    """The program as a NumPy function ``reference(inputs...)`` returning the list of outputs (or the cost)."""
    lines = [f"def reference({', '.join(input_names(program))}):"]
    lines += [f"    {node.name} = {node_source(node, 1)}" for node in program.nodes]
    outs = ", ".join(program.outputs)
    if program.grad:
        proj = ", ".join(f"w{k}" for k in range(len(program.outputs)))
        lines.append(f"    return sum(np.sum(o * w) for o, w in zip([{outs}], [{proj}]))")
    else:
        lines.append(f"    return [{outs}]")
    return "\n".join(lines) + "\n"


def used_names(program: Program) -> set[str]:
    """Names of the inputs and nodes the outputs depend on."""
    nodes = {n.name: n for n in program.nodes}
    seen, todo = set(), list(program.outputs)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in nodes:
            todo.extend(a for a in nodes[name].args if not isinstance(a, Lit))
    return seen
