"""Train a LeNet-style convolutional network with batch normalization on the handwritten digits
bundled with scikit-learn (no download):

    python examples/cnn_digits.py

conv 3x3 -> batch norm -> ReLU -> max-pool -> conv 3x3 -> batch norm -> ReLU -> max-pool ->
dense -> softmax; about 99 % test accuracy. --help lists the options.
"""

import time

import numpy as np
from _common import fit, make_parser, plot_history, report_test

import symdl
import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, objectives, updates


def build_cnn(input_var=None):
    relu = nonlinearities.rectify
    net = layers.InputLayer((None, 1, 8, 8), input_var=input_var)
    # batch_norm() removes the conv layer's bias and moves its ReLU after the normalization.
    net = layers.batch_norm(layers.Conv2DLayer(net, 32, 3, pad="same", nonlinearity=relu))  # 32 x 8 x 8
    net = layers.MaxPool2DLayer(net, 2)  # 32 x 4 x 4
    net = layers.batch_norm(layers.Conv2DLayer(net, 64, 3, pad="same", nonlinearity=relu))  # 64 x 4 x 4
    net = layers.MaxPool2DLayer(net, 2)  # 64 x 2 x 2
    net = layers.DenseLayer(layers.dropout(net, p=0.3), 128, nonlinearity=relu)
    return layers.DenseLayer(layers.dropout(net, p=0.3), 10, nonlinearity=nonlinearities.softmax)


def main(argv=None):
    args = make_parser(__doc__.splitlines()[0], epochs=15, batch_size=32, learning_rate=0.002).parse_args(argv)
    started = time.perf_counter()
    init.set_rng(np.random.RandomState(args.seed))
    data = datasets.load_digits()

    x, y = T.tensor4("x"), T.ivector("y")
    net = build_cnn(x)
    prediction = layers.get_output(net)  # training mode: batch statistics, dropout on
    loss = objectives.categorical_crossentropy(prediction, y).mean()
    params = layers.get_all_params(net, trainable=True)
    train_fn = symdl.function([x, y], loss, updates=updates.adam(loss, params, args.learning_rate))
    test_prediction = layers.get_output(net, deterministic=True)  # running averages, no dropout
    test_loss = objectives.categorical_crossentropy(test_prediction, y).mean()
    test_acc = objectives.categorical_accuracy(test_prediction, y).mean()
    eval_fn = symdl.function([x, y], [test_loss, test_acc])

    print(f"CNN with {layers.count_params(net)} parameters on {len(data[0])} training digits")
    history = fit(train_fn, eval_fn, data, args)
    accuracy = report_test(eval_fn, data[4], data[5], started)
    if args.plot:
        plot_history(history, args.plot, "CNN with batch norm on the digits")
    return accuracy


if __name__ == "__main__":
    main()
