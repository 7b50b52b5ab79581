"""The C backend's own tests need gcc; every test here is skipped when the backend is not available."""

import pytest

import symdl


def pytest_collection_modifyitems(config, items):
    if "c" not in symdl.backend.available():
        skip = pytest.mark.skip(reason="the C backend needs gcc, Python headers and scipy-openblas32")
        for item in items:
            if "backend/c" in str(item.fspath):
                item.add_marker(skip)
