"""Shared fixtures: every op test runs on every backend available here."""

import numpy as np
import pytest

import symdl


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", symdl.backend.available())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def reference_backend():
    """Gradients are graphs of ordinary ops, whose backends are tested op by op elsewhere: the
    gradient tests run on the NumPy reference backend (``pytestmark`` in their files)."""
    with symdl.config.change(mode="py"):
        yield


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running checks (accuracy targets of the examples)")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU with PyCUDA")
