"""The graph IR: Type, Variable, Constant, Apply, Op and FunctionGraph."""

from symdl.graph.basic import (
    Apply,
    Constant,
    Op,
    Type,
    Variable,
    ancestors,
    clone_replace,
    graph_inputs,
    toposort,
)
from symdl.graph.compare import equal_computations, is_same_graph
from symdl.graph.fg import FunctionGraph

__all__ = [
    "Apply",
    "Constant",
    "FunctionGraph",
    "Op",
    "Type",
    "Variable",
    "ancestors",
    "clone_replace",
    "equal_computations",
    "graph_inputs",
    "is_same_graph",
    "toposort",
]
