"""Shared fixtures: every op test runs on every backend available here, and draws the same
random numbers whatever ran before it."""

import random
import zlib

import numpy as np
import pytest

import symdl
import symdl.random


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", symdl.backend.available())


@pytest.fixture(autouse=True)
def _seed_every_draw(request):
    """Seed NumPy's global generator, Python's ``random`` and ``symdl.random``'s generator (layer
    initialisation, dropout streams) from the test's id: each test draws the same numbers in any
    order, alone or with others, on any xdist worker (``pytest -p randomly`` reseeds NumPy's and
    Python's at call time, per test and seed, in the same spirit)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    saved = np.random.get_state(), random.getstate(), symdl.random.get_rng()
    np.random.seed(seed)
    random.seed(seed)
    symdl.random.set_rng(np.random.RandomState(seed))
    yield
    np.random.set_state(saved[0])
    random.setstate(saved[1])
    symdl.random.set_rng(saved[2])


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
