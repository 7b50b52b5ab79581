"""Delta-reduction of a failing program to a small one that fails the same way.

A candidate is kept when checking it gives an outcome with the same ``key`` (kind and backend).
The steps, repeated until none helps: drop an output; let an output's argument be the output;
cut a node off from what computes its
arguments (an argument becomes a new input holding the NumPy value it had); drop a
differentiated input; make static shapes unknown; replace ordinary input values by ones and
zeros; drop trailing elements of an input's axes.

>>> import numpy as np
>>> from symdl.fuzz.program import Input, Node, Program, symdl_source
>>> p = Program([Input("x0", np.array([1.0, 2.0]), (2,))],
...             [Node("v0", "exp", ("x0",)), Node("v1", "neg", ("v0",))], ["v0", "v1"])
>>> small = shrink(p, lambda q: "v1" in q.outputs)
>>> print(symdl_source(small), end="")
x1 = T.tensor('float64', shape=(None,), name='x1')
v1 = -x1
outputs = [v1]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import numpy as np

from symdl.fuzz.generate import evaluate_node, prune
from symdl.fuzz.program import Input, Lit, Program

MAX_CHECKS = 150


def _values(program: Program) -> dict:
    """The NumPy value of every input and node (None from the first that raises)."""
    values = {i.name: i.value for i in program.inputs}
    for node in program.nodes:
        try:
            values[node.name] = evaluate_node(node, values)
        except Exception:  # noqa: BLE001 - the rest has no value
            break
    return values


def _fresh_name(program: Program) -> str:
    taken = {i.name for i in program.inputs}
    k = len(program.inputs)
    while f"x{k}" in taken:
        k += 1
    return f"x{k}"


def _tidy(program: Program) -> Program:
    """Prune what no output needs; a gradient program's projections become ones of the outputs' shapes."""
    prune(program)
    if program.grad:
        names = {i.name for i in program.inputs}
        program.wrt = tuple(n for n in program.wrt if n in names)
        values = _values(program)
        if all(o in values for o in program.outputs):
            program.projections = [np.ones(np.shape(values[o])) for o in program.outputs]
    return program


def _candidates(program: Program) -> Iterator[Program]:
    for candidate in _edits(program):
        yield _tidy(candidate)


def _edits(program: Program) -> Iterator[Program]:
    # drop an output
    if len(program.outputs) > 1:
        for k in range(len(program.outputs)):
            q = copy.deepcopy(program)
            del q.outputs[k]
            if q.grad:
                del q.projections[k]
            yield q
    # an output's argument becomes the output (the node that made it goes)
    nodes = {n.name: n for n in program.nodes}
    for k, out in enumerate(program.outputs):
        for arg in nodes[out].args if out in nodes else ():
            if not isinstance(arg, Lit) and arg not in program.outputs:
                q = copy.deepcopy(program)
                q.outputs[k] = arg
                yield q
    # cut a node's argument off: it becomes an input holding its value
    values = _values(program)
    for n, node in enumerate(program.nodes):
        for a, arg in enumerate(node.args):
            if isinstance(arg, Lit) or arg not in values or any(i.name == arg for i in program.inputs):
                continue
            q = copy.deepcopy(program)
            name = _fresh_name(q)
            value = np.asarray(values[arg])
            q.inputs.append(Input(name, value, (None,) * value.ndim))
            args = list(q.nodes[n].args)
            args[a] = name
            q.nodes[n].args = tuple(args)
            if q.grad and value.dtype == np.float64:
                q.wrt = (*q.wrt, name)
            yield q
    # differentiate fewer inputs
    if program.grad and len(program.wrt) > 1:
        for k in range(len(program.wrt)):
            q = copy.deepcopy(program)
            q.wrt = q.wrt[:k] + q.wrt[k + 1 :]
            yield q
    for k, inp in enumerate(program.inputs):
        # unknown static shapes
        if any(s is not None for s in inp.static):
            q = copy.deepcopy(program)
            q.inputs[k].static = (None,) * len(inp.static)
            yield q
        # plain values: ones (or True) where the value is ordinary
        v = inp.value
        if v.size and v.dtype.kind in "fi":
            plain = np.ones_like(v)
            if not np.array_equal(v, plain, equal_nan=v.dtype.kind == "f"):
                q = copy.deepcopy(program)
                q.inputs[k].value = plain
                yield q
        # fewer elements: the first half of an axis
        for axis, size in enumerate(v.shape):
            if size > 1:
                q = copy.deepcopy(program)
                q.inputs[k].value = np.take(v, range(size // 2), axis=axis)
                static = list(inp.static)
                if static[axis] is not None:
                    static[axis] = size // 2
                q.inputs[k].static = tuple(static)
                yield q


def _size(program: Program) -> tuple:
    return (
        len(program.nodes),
        len(program.outputs),
        len(program.wrt),
        sum(i.value.size for i in program.inputs),
        sum(s is not None for i in program.inputs for s in i.static),
        len(program.inputs),
    )


def shrink(program: Program, fails: Callable[[Program], bool], max_checks: int = MAX_CHECKS) -> Program:
    """The smallest program found (by nodes, outputs, elements) for which ``fails`` still holds."""
    best = copy.deepcopy(program)
    checks = 0
    progress = True
    while progress and checks < max_checks:
        progress = False
        for candidate in _candidates(best):
            if _size(candidate) >= _size(best) and not _simpler_values(candidate, best):
                continue
            checks += 1
            if fails(candidate):
                best, progress = candidate, True
                break
            if checks >= max_checks:
                break
    return best


def _simpler_values(a: Program, b: Program) -> bool:
    """Whether ``a`` has the same structure as ``b`` with more inputs of plain ones."""
    ones = lambda p: sum(bool(np.all(i.value == 1)) for i in p.inputs if i.value.size)  # noqa: E731
    return _size(a) == _size(b) and ones(a) > ones(b)
