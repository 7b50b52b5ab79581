"""Structural comparison of graphs (Theano's ``equal_computations`` and ``is_same_graph``).

Two graphs compute the same thing when they apply equal ops to inputs that compute the same
thing, output by output; their leaves must be the same variables (or given pairs), or constants
of equal type and value.

>>> import symdl.tensor as T
>>> x = T.matrix('x')
>>> is_same_graph(x.mean(), x.mean()), is_same_graph(x.mean(), x.sum())
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from symdl.graph.basic import Constant, Variable


def _same_constant(x: Constant, y: Constant) -> bool:
    try:
        return bool(x.signature() == y.signature())
    except ValueError:  # a signature that holds an array
        return x.type == y.type and np.array_equal(x.data, y.data)


def equal_computations(
    xs: Sequence[Variable],
    ys: Sequence[Variable],
    in_xs: Sequence[Variable] | None = None,
    in_ys: Sequence[Variable] | None = None,
) -> bool:
    """Whether each ``xs[i]`` computes the same as ``ys[i]``; ``in_xs[k]`` and ``in_ys[k]`` count
    as the same variable.

    >>> import symdl.tensor as T
    >>> a, b = T.vector('a'), T.vector('b')
    >>> equal_computations([a * 2], [a * 2]), equal_computations([a * 2], [b * 2], [a], [b])
    (True, True)
    """
    if len(xs) != len(ys):
        return False
    x_to_y = {id(x): y for x, y in zip(in_xs or (), in_ys or ())}
    y_to_x = {id(y): x for x, y in zip(in_xs or (), in_ys or ())}
    verdict: dict[tuple[int, int], bool] = {}
    # Iterative post-order walk over pairs (deep graphs do not hit the recursion limit); a pair
    # is judged once, so shared subgraphs cost once.
    for root in zip(xs, ys):
        stack = [root]
        while stack:
            x, y = stack[-1]
            key = (id(x), id(y))
            if key in verdict:
                stack.pop()
                continue
            if id(x) in x_to_y or id(y) in y_to_x:
                verdict[key] = x_to_y.get(id(x)) is y and y_to_x.get(id(y)) is x
            elif x is y:
                verdict[key] = True
            elif x.type != y.type or x.owner is None or y.owner is None:
                verdict[key] = isinstance(x, Constant) and isinstance(y, Constant) and _same_constant(x, y)
            elif x.index != y.index or x.owner.op != y.owner.op or len(x.owner.inputs) != len(y.owner.inputs):
                verdict[key] = False
            else:
                pairs = list(zip(x.owner.inputs, y.owner.inputs))
                pending = [p for p in pairs if (id(p[0]), id(p[1])) not in verdict]
                if pending:
                    stack.extend(reversed(pending))
                    continue
                verdict[key] = all(verdict[(id(a), id(b))] for a, b in pairs)
            stack.pop()
        if not verdict[(id(root[0]), id(root[1]))]:
            return False
    return True


def is_same_graph(var1: Variable, var2: Variable, givens: Mapping[Variable, Variable] | None = None) -> bool:
    """Whether ``var1`` and ``var2`` compute the same thing; each key of ``givens`` (in ``var1``'s
    graph) counts as the same as its value (in ``var2``'s)."""
    givens = dict(givens or {})
    return equal_computations([var1], [var2], list(givens), list(givens.values()))
