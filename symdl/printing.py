"""Seeing a graph: ``debugprint`` (an indented tree, Theano-style), ``pprint`` (one line of
maths) and ``to_dot`` (Graphviz DOT text built through networkx, optionally rendered).

Each takes a variable, a list of variables, a ``FunctionGraph`` or a compiled function (whose
rewritten graph ``fn.graph`` is shown).

>>> import symdl.tensor as T
>>> x, y = T.vector('x'), T.vector('y')
>>> print(pprint(T.exp(x) * 2 + y))
((exp(x) * 2.0) + y)
>>> print(debugprint(T.exp(x) + y, file='str'))
add [id A] float32(?,)
 |exp [id B] float32(?,)
 | |x [id C] float32(?,)
 |y [id D] float32(?,)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from symdl.graph.basic import Apply, Constant, Variable, toposort

_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "true_div": ("/", 2), "floor_div": ("//", 2),
          "mod": ("%", 2), "pow": ("**", 3), "lt": ("<", 0), "le": ("<=", 0), "gt": (">", 0),
          "ge": (">=", 0), "eq": ("==", 0), "neq": ("!=", 0), "bitwise_and": ("&", 0),
          "bitwise_or": ("|", 0), "bitwise_xor": ("^", 0)}  # fmt: skip


def _outputs_of(obj: Any) -> tuple[list[Variable], Any]:
    """The variables to show, and the FunctionGraph they belong to (if any)."""
    from symdl.graph.fg import FunctionGraph

    graph = getattr(obj, "graph", None)
    if isinstance(graph, FunctionGraph):
        return list(graph.outputs), graph
    if isinstance(obj, FunctionGraph):
        return list(obj.outputs), obj
    if isinstance(obj, Variable):
        return [obj], None
    if isinstance(obj, Sequence) and all(isinstance(v, Variable) for v in obj):
        return list(obj), None
    raise TypeError(f"expected a variable, a list of variables, a FunctionGraph or a compiled function, got {obj!r}")


def _ids() -> Any:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def label(k: int) -> str:
        out = ""
        k += 1
        while k:
            k, r = divmod(k - 1, 26)
            out = letters[r] + out
        return out

    return label


def _type_str(v: Variable) -> str:
    return str(v.type)


def debugprint(obj: Any, file: Any = None, print_type: bool = True, depth: int = -1) -> str | None:
    """Print the graph of ``obj`` as an indented tree: each node once with an id (``[id A]``), its
    type and shape, and its output's name; a node seen before is printed by id only.

    ``file='str'`` returns the text instead of printing it. For a compiled function, a node whose
    result the plan writes into a shared variable's own array says so (``in place of 'W'``).
    """
    outputs, fgraph = _outputs_of(obj)
    plan = getattr(obj, "plan", None)
    in_place = {node: shared for node, (shared, _) in plan.in_place.items()} if plan is not None else {}
    label = _ids()
    ids: dict[Any, str] = {}
    lines: list[str] = []

    def ident(key: Any) -> tuple[str, bool]:
        seen = key in ids
        if not seen:
            ids[key] = label(len(ids))
        return ids[key], seen

    def show(v: Variable, prefix: str, child: str, level: int) -> list:
        """Print ``v``'s line; return its children to show next."""
        node = v.owner
        if node is None:
            ident_, _ = ident(v)
            what = repr(v) if isinstance(v, Constant) else (v.name or v.auto_name)
            lines.append(f"{prefix}{what} [id {ident_}]" + (f" {_type_str(v)}" if print_type else ""))
            return []
        ident_, seen = ident(node)
        name = str(node.op)
        if len(node.outputs) > 1:
            name += f".{v.index}"
        text = f"{prefix}{name} [id {ident_}]"
        if print_type:
            text += f" {_type_str(v)}"
        if v.name:
            text += f" '{v.name}'"
        if node in in_place:
            text += f" in place of {in_place[node].name or 'a shared variable'!r}"
        if seen:
            lines.append(text + " ...")
            return []
        lines.append(text)
        if depth >= 0 and level >= depth:
            return []
        last = len(node.inputs) - 1
        return [
            (inp, child + " |", child + ("  " if k == last else " |"), level + 1) for k, inp in enumerate(node.inputs)
        ]

    stack = [(out, "", "", 0) for out in reversed(outputs)]
    while stack:
        stack.extend(reversed(show(*stack.pop())))
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None


def pprint(obj: Any) -> str:
    """One line of maths for a variable (infix operators, function calls for other ops)."""
    outputs, _ = _outputs_of(obj)
    memo: dict[Variable, str] = {}

    def fmt(v: Variable) -> str:
        if v in memo:
            return memo[v]
        node = v.owner
        if node is None:
            text = repr(v) if isinstance(v, Constant) else (v.name or v.auto_name)
        else:
            text = _format_node(node, v, [fmt(i) for i in node.inputs])
        memo[v] = text
        return text

    for node in toposort(outputs):
        for out in node.outputs:
            if out not in memo:
                memo[out] = _format_node(node, out, [fmt(i) for i in node.inputs])
    return ", ".join(fmt(o) for o in outputs)


def _format_node(node: Apply, v: Variable, args: list[str]) -> str:
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.shape import DimShuffle

    op = node.op
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name in _INFIX and len(args) == 2:
            return f"({args[0]} {_INFIX[name][0]} {args[1]})"
        if name == "neg":
            return f"-{args[0]}"
        return f"{name}({', '.join(args)})"
    if isinstance(op, DimShuffle) and str(op) == "transpose":
        return f"{args[0]}.T"
    suffix = f".{v.index}" if len(node.outputs) > 1 else ""
    return f"{op}({', '.join(args)}){suffix}"


def to_dot(obj: Any, path: str | os.PathLike | None = None) -> str:
    """The graph of ``obj`` as Graphviz DOT text (built through networkx).

    With ``path``, the DOT text is also written there (``.dot``/``.gv``) or rendered by the
    ``dot`` executable in the format its suffix names (``g.svg``, ``g.png``, ``g.pdf``); a clear
    ``RuntimeError`` says so when Graphviz is not installed.
    """
    import networkx as nx

    outputs, fgraph = _outputs_of(obj)
    graph = nx.DiGraph()
    names: dict[Any, str] = {}

    def node_id(key: Any) -> str:
        if key not in names:
            names[key] = f"n{len(names)}"
        return names[key]

    def add_var(v: Variable) -> str:
        nid = node_id(v)
        if nid not in graph:
            label = (repr(v) if isinstance(v, Constant) else (v.name or v.auto_name)) + f"\\n{v.type}"
            shape = "box" if isinstance(v, Constant) else "ellipse"
            graph.add_node(nid, label=label, shape=shape, color="green" if v.owner is None else "black")
        return nid

    for apply in toposort(outputs):
        aid = node_id(apply)
        graph.add_node(aid, label=str(apply.op), shape="box", style="filled", fillcolor="lightblue")
        for k, inp in enumerate(apply.inputs):
            src = node_id(inp.owner) if inp.owner is not None else add_var(inp)
            graph.add_edge(src, aid, label=str(k) if len(apply.inputs) > 1 else "")
    for k, out in enumerate(outputs):
        oid = f"out{k}"
        graph.add_node(oid, label=f"output {k}: {out.name or ''}\\n{out.type}", shape="plaintext")
        src = node_id(out.owner) if out.owner is not None else add_var(out)
        graph.add_edge(src, oid, label="")
    text = _dot_text(graph)
    if path is not None:
        _render(text, os.fspath(path))
    return text


def _quote(value: Any) -> str:
    return '"' + str(value).replace('"', '\\"') + '"'


def _dot_text(graph: Any) -> str:
    lines = ["digraph symdl {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for nid, attrs in graph.nodes(data=True):
        body = ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())
        lines.append(f"  {nid} [{body}];")
    for a, b, attrs in graph.edges(data=True):
        body = ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items() if v != "")
        lines.append(f"  {a} -> {b}" + (f" [{body}];" if body else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render(text: str, path: str) -> None:
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix in ("dot", "gv", ""):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            f"to_dot: rendering {path!r} needs the Graphviz 'dot' executable, which is not on PATH; "
            "install Graphviz (e.g. apt-get install graphviz), or call to_dot without a path (or "
            "with a .dot path) to get the DOT text"
        )
    result = subprocess.run([exe, f"-T{suffix}", "-o", path], input=text.encode(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"to_dot: Graphviz failed to render {path!r}: {result.stderr.decode().strip()}")
