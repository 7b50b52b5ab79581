"""A failing program printed as a pytest test that can be pasted into tests/ as it is.

The test holds the graph in symdl, the same graph in NumPy, the input values (exact: -0.0, NaN,
infinities and denormals included) and the check that failed: values equal to NumPy's by the
fuzzer's tolerance, the error class NumPy raises, or gradients equal to finite differences.

>>> import numpy as np
>>> from symdl.fuzz.program import Input, Node, Program
>>> p = Program([Input("x0", np.array([1.0, -0.0]), (None,))], [Node("v0", "exp", ("x0",))], ["v0"])
>>> print(reproducer(p, ("py", "c"), "test_exp"))  # doctest: +ELLIPSIS
def test_exp():
    ...
    def graph():
        x0 = T.tensor('float64', shape=(None,), name='x0')
        v0 = T.exp(x0)
        outputs = [v0]
        return [x0], outputs
<BLANKLINE>
    def reference(x0):
        v0 = np.exp(x0)
        return [v0]
<BLANKLINE>
    values = [np.array([1.0, -0.0], dtype='float64')]
    for mode in ('py', 'c'):
        inputs, outputs = graph()
        got = symdl.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)
        for g, e in zip(got, reference(*values)):
            assert compare_values(g, e, 'float64', False) is None, (mode, g, e)
"""

from __future__ import annotations

import textwrap

from symdl.fuzz.check import FAMILIES, accumulates, program_values, run_reference, working_precision
from symdl.fuzz.program import Program, array_literal, input_names, numpy_source, symdl_source

_IMPORTS = (
    ("np.", "import numpy as np"),
    ("pytest.", "import pytest"),
    ("symdl.", "import symdl"),
    ("T.", "import symdl.tensor as T"),
    ("ref.", "from symdl.fuzz import reference as ref"),
    ("compare_gradients(", "from symdl.fuzz.check import compare_gradients, finite_differences"),
    ("compare_values(", "from symdl.fuzz.check import compare_values"),
    ("pool_2d(", "from symdl.tensor.signal.pool import pool_2d"),
)


def _expected_error(program: Program) -> str | None:
    """The builtin error family NumPy raises on this program, or None when it returns."""
    try:
        run_reference(program, program_values(program))
    except Exception as e:  # noqa: BLE001
        return next((f.__name__ for f in FAMILIES if isinstance(e, f)), type(e).__name__)
    return None


def reproducer(program: Program, backends: tuple[str, ...], name: str, doc: str = "") -> str:
    """Source of a pytest test named ``name`` that fails as long as ``program``'s failure is there."""
    names = input_names(program)
    body = []
    graph = symdl_source(program) + f"return [{', '.join(names)}], outputs\n"
    body.append("def graph():\n" + textwrap.indent(graph, "    "))
    body.append(numpy_source(program))
    values = ", ".join(array_literal(v) for v in program_values(program))
    lines = [f"values = [{values}]", f"for mode in {backends!r}:"]
    compile_call = 'symdl.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*values)'
    error = _expected_error(program)
    if error is not None:
        lines += [f"    with pytest.raises({error}):", "        inputs, outputs = graph()", f"        {compile_call}"]
    elif program.grad:
        positions = [names.index(n) for n in program.wrt]
        lines += [
            "    inputs, outputs = graph()",
            f"    got = {compile_call}",
            f"    numeric = finite_differences(reference, values, {positions!r})",
            "    assert compare_gradients(got, reference(*values), numeric) is None, mode",
        ]
    else:
        lines += [
            "    inputs, outputs = graph()",
            f"    got = {compile_call}",
            "    for g, e in zip(got, reference(*values)):",
            f"        assert compare_values(g, e, {working_precision(program)!r}, {accumulates(program)}) is None, (mode, g, e)",
        ]
    body.append("\n".join(lines) + "\n")
    text = "\n".join(body)
    imports = "\n".join(line for marker, line in _IMPORTS if marker in text) + "\n"
    doc_line = f'"""{doc}"""\n' if doc else ""
    return f"def {name}():\n" + textwrap.indent(doc_line + imports + "\n" + text, "    ")
