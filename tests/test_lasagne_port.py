"""Lasagne's own MNIST example (lasagne/examples/mnist.py), its functions copied as they are with
only the imports changed, trained on the bundled digits scaled up to MNIST's 28x28.

The one line that differs: Lasagne computes the accuracy with ``T.mean(..., dtype=floatX)``;
this port uses ``lasagne.objectives.categorical_accuracy(...).mean()`` (floatX already).
"""

import time

import numpy as np
import pytest

import symdl as lasagne  # was: import lasagne
import symdl as theano  # was: import theano
import symdl.tensor as T  # was: import theano.tensor as T
from symdl.datasets import load_digits


def load_dataset():
    """The digits as 28x28 images: each pixel tripled, then padded by 2 (8 * 3 + 4 = 28)."""
    data = list(load_digits())
    for k in (0, 2, 4):
        big = np.kron(data[k], np.ones((1, 1, 3, 3), np.float32))
        data[k] = np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))
    return data


# ----------------------------------------------------------- from Lasagne's mnist.py, unchanged
def build_mlp(input_var=None):
    l_in = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input_var)
    l_in_drop = lasagne.layers.DropoutLayer(l_in, p=0.2)
    l_hid1 = lasagne.layers.DenseLayer(
        l_in_drop, num_units=800, nonlinearity=lasagne.nonlinearities.rectify, W=lasagne.init.GlorotUniform()
    )
    l_hid1_drop = lasagne.layers.DropoutLayer(l_hid1, p=0.5)
    l_hid2 = lasagne.layers.DenseLayer(l_hid1_drop, num_units=800, nonlinearity=lasagne.nonlinearities.rectify)
    l_hid2_drop = lasagne.layers.DropoutLayer(l_hid2, p=0.5)
    l_out = lasagne.layers.DenseLayer(l_hid2_drop, num_units=10, nonlinearity=lasagne.nonlinearities.softmax)
    return l_out


def build_custom_mlp(input_var=None, depth=2, width=800, drop_input=0.2, drop_hidden=0.5):
    network = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input_var)
    if drop_input:
        network = lasagne.layers.dropout(network, p=drop_input)
    nonlin = lasagne.nonlinearities.rectify
    for _ in range(depth):
        network = lasagne.layers.DenseLayer(network, width, nonlinearity=nonlin)
        if drop_hidden:
            network = lasagne.layers.dropout(network, p=drop_hidden)
    softmax = lasagne.nonlinearities.softmax
    network = lasagne.layers.DenseLayer(network, 10, nonlinearity=softmax)
    return network


def build_cnn(input_var=None):
    network = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input_var)
    network = lasagne.layers.Conv2DLayer(
        network,
        num_filters=32,
        filter_size=(5, 5),
        nonlinearity=lasagne.nonlinearities.rectify,
        W=lasagne.init.GlorotUniform(),
    )
    network = lasagne.layers.MaxPool2DLayer(network, pool_size=(2, 2))
    network = lasagne.layers.Conv2DLayer(
        network, num_filters=32, filter_size=(5, 5), nonlinearity=lasagne.nonlinearities.rectify
    )
    network = lasagne.layers.MaxPool2DLayer(network, pool_size=(2, 2))
    network = lasagne.layers.DenseLayer(
        lasagne.layers.dropout(network, p=0.5), num_units=256, nonlinearity=lasagne.nonlinearities.rectify
    )
    network = lasagne.layers.DenseLayer(
        lasagne.layers.dropout(network, p=0.5), num_units=10, nonlinearity=lasagne.nonlinearities.softmax
    )
    return network


def iterate_minibatches(inputs, targets, batchsize, shuffle=False):
    assert len(inputs) == len(targets)
    if shuffle:
        indices = np.arange(len(inputs))
        np.random.shuffle(indices)
    for start_idx in range(0, len(inputs) - batchsize + 1, batchsize):
        if shuffle:
            excerpt = indices[start_idx : start_idx + batchsize]
        else:
            excerpt = slice(start_idx, start_idx + batchsize)
        yield inputs[excerpt], targets[excerpt]


def main(model="mlp", num_epochs=500, batchsize=500):
    X_train, y_train, X_val, y_val, X_test, y_test = load_dataset()
    input_var = T.tensor4("inputs")
    target_var = T.ivector("targets")
    if model == "mlp":
        network = build_mlp(input_var)
    elif model.startswith("custom_mlp:"):
        depth, width, drop_in, drop_hid = model.split(":", 1)[1].split(",")
        network = build_custom_mlp(input_var, int(depth), int(width), float(drop_in), float(drop_hid))
    elif model == "cnn":
        network = build_cnn(input_var)
    prediction = lasagne.layers.get_output(network)
    loss = lasagne.objectives.categorical_crossentropy(prediction, target_var)
    loss = loss.mean()
    params = lasagne.layers.get_all_params(network, trainable=True)
    updates = lasagne.updates.nesterov_momentum(loss, params, learning_rate=0.01, momentum=0.9)
    test_prediction = lasagne.layers.get_output(network, deterministic=True)
    test_loss = lasagne.objectives.categorical_crossentropy(test_prediction, target_var)
    test_loss = test_loss.mean()
    test_acc = lasagne.objectives.categorical_accuracy(test_prediction, target_var).mean()  # the changed line
    train_fn = theano.function([input_var, target_var], loss, updates=updates)
    val_fn = theano.function([input_var, target_var], [test_loss, test_acc])
    for epoch in range(num_epochs):
        train_err = 0
        train_batches = 0
        start_time = time.time()
        for batch in iterate_minibatches(X_train, y_train, batchsize, shuffle=True):
            inputs, targets = batch
            train_err += train_fn(inputs, targets)
            train_batches += 1
        val_err = 0
        val_acc = 0
        val_batches = 0
        for batch in iterate_minibatches(X_val, y_val, batchsize, shuffle=False):
            inputs, targets = batch
            err, acc = val_fn(inputs, targets)
            val_err += err
            val_acc += acc
            val_batches += 1
        print(f"Epoch {epoch + 1} of {num_epochs} took {time.time() - start_time:.3f}s")
        print(f"  training loss:\t\t{train_err / train_batches:.6f}")
        print(f"  validation loss:\t\t{val_err / val_batches:.6f}")
        print(f"  validation accuracy:\t\t{val_acc / val_batches * 100:.2f} %")
    test_err = 0
    test_acc = 0
    test_batches = 0
    for batch in iterate_minibatches(X_test, y_test, batchsize, shuffle=False):
        inputs, targets = batch
        err, acc = val_fn(inputs, targets)
        test_err += err
        test_acc += acc
        test_batches += 1
    print("Final results:")
    print(f"  test loss:\t\t\t{test_err / test_batches:.6f}")
    print(f"  test accuracy:\t\t{test_acc / test_batches * 100:.2f} %")
    np.savez("model.npz", *lasagne.layers.get_all_param_values(network))
    return network, test_acc / test_batches


# ----------------------------------------------------------------------------------- the tests
@pytest.fixture(autouse=True)
def seeded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # main() saves model.npz in the working directory
    np.random.seed(0)
    lasagne.init.set_rng(np.random.RandomState(0))


@pytest.mark.parametrize(("model", "epochs", "target"), [("mlp", 3, 0.9), ("custom_mlp:1,200,0.1,0.2", 4, 0.9)])
def test_lasagne_mlp_example_learns_the_digits(model, epochs, target):
    network, accuracy = main(model, num_epochs=epochs, batchsize=50)
    assert accuracy >= target
    with np.load("model.npz") as f:  # Lasagne's way of loading the saved parameters back
        param_values = [f[f"arr_{i}"] for i in range(len(f.files))]
    lasagne.layers.set_all_param_values(network, param_values)


def test_lasagne_cnn_example_learns_the_digits():
    _, accuracy = main("cnn", num_epochs=2, batchsize=50)
    assert accuracy >= 0.6
