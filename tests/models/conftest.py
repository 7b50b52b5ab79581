"""A full-size VGG19 file in the model zoo's format, made once per test session (about 575 MB
of random values: the zoo's real file cannot be downloaded here)."""

import numpy as np
import pytest

from symdl.models import param_shapes, save_lasagne_pickle


def random_zoo_values(depth, seed=0):
    """He-uniform weights (activations keep their scale through the 19 layers) and small biases,
    float32, in the zoo's order."""
    rng = np.random.default_rng(seed)
    values = []
    for name, shape in param_shapes(depth):
        value = rng.random(shape, dtype=np.float32)
        if name.endswith(".W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            bound = np.float32(np.sqrt(6.0 / fan_in))
        else:
            bound = np.float32(0.01)
        value *= 2 * bound
        value -= bound
        values.append(value)
    return values


@pytest.fixture(scope="session")
def vgg19_zoo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "vgg19.pkl"
    model = {
        "param values": random_zoo_values(19),
        "synset words": [f"n{k:08d} class {k}" for k in range(1000)],
        "mean value": np.array([103.939, 116.779, 123.68]),
    }
    save_lasagne_pickle(path, model)
    return path
