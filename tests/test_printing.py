"""symdl.printing: debugprint trees, pprint maths, DOT graphs (rendered when Graphviz is there)."""

import shutil

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import printing


def test_debugprint_shows_ids_types_and_shapes_and_repeats_by_id():
    x = T.matrix("x", shape=(None, 3))
    e = T.exp(x)
    text = printing.debugprint(e * e + x, file="str")
    lines = text.splitlines()
    assert lines[0].startswith("add [id A] float32(?, 3)")
    assert any("exp [id" in line for line in lines)
    assert sum("x [id" in line for line in lines) == 2
    assert any(line.rstrip().endswith("...") for line in lines)


def test_debugprint_of_a_function_shows_the_rewritten_graph(capsys):
    x, y = T.vector("x"), T.vector("y")
    f = symdl.function([x, y], T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y), mode="py")
    printing.debugprint(f)
    out = capsys.readouterr().out
    assert out.startswith("composite{")
    assert "x [id" in out and "y [id" in out
    assert printing.debugprint(f.maker.fgraph, file="str") == out.rstrip("\n")


def test_debugprint_names_outputs_and_the_updates_the_plan_writes_in_place():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    w = symdl.shared(np.zeros((2, 2)), name="W")
    out = T.tanh(T.dot(a, b)) * 2.0
    out.name = "activation"
    f = symdl.function([a, b], out, updates=[(w, w + out)], mode="py")
    text = printing.debugprint(f, file="str")
    assert "'activation'" in text and "in place of 'W'" in text


def test_debugprint_handles_deep_graphs():
    x = T.dvector("x")
    out = x
    for _ in range(3000):
        out = T.exp(out)
    assert len(printing.debugprint(out, file="str").splitlines()) == 3001


def test_pprint_writes_one_line_of_maths():
    x, y = T.vector("x"), T.vector("y")
    assert printing.pprint(T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y)) == (
        "((tanh(((x * y) + exp(-x))) * 2.0) + log1p((y * y)))"
    )
    m = T.matrix("m")
    assert printing.pprint(T.sum(m.T, axis=0)) == "sum(m.T)"


def test_to_dot_builds_dot_text_through_networkx():
    x, y = T.vector("x"), T.vector("y")
    f = symdl.function([x, y], [x * y + 1.0], mode="py", optimizer="none")
    dot = printing.to_dot(f)
    assert dot.startswith("digraph symdl {") and dot.rstrip().endswith("}")
    assert '"mul"' in dot and '"add"' in dot and "x\\nfloat32(?,)" in dot
    assert dot.count("->") == 5  # x, y into mul; mul, 1.0 into add; add to the output


def test_to_dot_writes_dot_files(tmp_path):
    x = T.vector("x")
    path = tmp_path / "g.dot"
    text = printing.to_dot(T.exp(x), path=path)
    assert path.read_text() == text


def test_to_dot_rendering_without_graphviz_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    x = T.vector("x")
    with pytest.raises(RuntimeError, match="Graphviz 'dot' executable"):
        printing.to_dot(T.exp(x), path=tmp_path / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_to_dot_renders_svg_with_graphviz(tmp_path):
    x = T.vector("x")
    path = tmp_path / "g.svg"
    printing.to_dot(T.exp(x) + np.float32(1), path=path)
    assert "<svg" in path.read_text()
