"""Backends find what runs an op in the op's own registrations, never by testing its type."""

import ast
import importlib
from pathlib import Path

import symdl
from symdl.graph.basic import Op

BACKEND = Path(symdl.__file__).parent / "backend"


def _sources():
    return sorted(BACKEND.rglob("*.py"))


def _imported_op_classes(tree: ast.Module) -> set[str]:
    """Names bound by ``from symdl... import X`` where X is a concrete op class."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("symdl."):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if isinstance(value, type) and issubclass(value, Op) and value is not Op:
                    found.add(alias.asname or alias.name)
    return found


def test_no_backend_module_imports_an_op_class():
    offenders = {}
    for path in _sources():
        names = _imported_op_classes(ast.parse(path.read_text()))
        if names:
            offenders[path.name] = sorted(names)
    assert offenders == {}


def test_no_backend_module_dispatches_on_a_type_name():
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                text = ast.unparse(node)
                if "__name__" in text and "type(" in text:
                    offenders.append(f"{path.name}: {text}")
    assert offenders == []
