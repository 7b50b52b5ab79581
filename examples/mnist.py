"""Train on MNIST, read from the IDX files you downloaded (symdl never downloads anything):

    python examples/mnist.py --data-dir ~/data/mnist --model mlp
    python examples/mnist.py --data-dir ~/data/mnist --model cnn --optimizer nesterov

The networks are the usual ones: an MLP 784-256-256-10 (about 98 % test accuracy) and a LeNet
(20 conv 5x5, max-pool 2, 50 conv 5x5, max-pool 2, dense 256, softmax; about 99 %). The data
directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
t10k-labels-idx1-ubyte, gzipped or not.
"""

import sys
import time
from functools import partial

import numpy as np
from _common import compile_classifier, fit, make_parser, plot_history, report_test

import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, updates


def build_mlp(input_var=None, shape=(28, 28)):
    net = layers.InputLayer((None, 1, *shape), input_var=input_var)
    net = layers.DenseLayer(net, 256, nonlinearity=nonlinearities.rectify)
    net = layers.DenseLayer(net, 256, nonlinearity=nonlinearities.rectify)
    return layers.DenseLayer(net, 10, nonlinearity=nonlinearities.softmax)


def build_cnn(input_var=None, shape=(28, 28)):
    net = layers.InputLayer((None, 1, *shape), input_var=input_var)
    net = layers.Conv2DLayer(net, 20, 5, nonlinearity=nonlinearities.rectify)
    net = layers.MaxPool2DLayer(net, 2)
    net = layers.Conv2DLayer(net, 50, 5, nonlinearity=nonlinearities.rectify)
    net = layers.MaxPool2DLayer(net, 2)
    net = layers.DenseLayer(net, 256, nonlinearity=nonlinearities.rectify)
    return layers.DenseLayer(net, 10, nonlinearity=nonlinearities.softmax)


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], epochs=10, batch_size=64, learning_rate=0.1)
    parser.add_argument("--data-dir", required=True, metavar="DIR", help="directory with the four MNIST IDX files")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="network (default mlp)")
    parser.add_argument(
        "--optimizer", choices=("sgd", "nesterov"), default="sgd", help="plain SGD or Nesterov momentum (default sgd)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        data = datasets.load_mnist(args.data_dir)
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f"mnist.py: {exc}")
    init.set_rng(np.random.RandomState(args.seed))
    x, y = T.tensor4("x"), T.ivector("y")
    net = (build_mlp if args.model == "mlp" else build_cnn)(x, data[0].shape[2:])

    if args.optimizer == "sgd":
        update = partial(updates.sgd, learning_rate=args.learning_rate)
    else:
        update = partial(updates.nesterov_momentum, learning_rate=args.learning_rate / 10, momentum=0.9)
    train_fn, eval_fn = compile_classifier(net, x, y, update)

    print(f"{args.model.upper()} with {layers.count_params(net)} parameters on {len(data[0])} training images")
    history = fit(train_fn, eval_fn, data, args)
    accuracy = report_test(eval_fn, data[4], data[5], started)
    if args.plot:
        plot_history(history, args.plot, f"{args.model.upper()} on MNIST")
    return accuracy


if __name__ == "__main__":
    main()
