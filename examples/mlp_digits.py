"""Train a multilayer perceptron with dropout on the handwritten digits bundled with
scikit-learn (no download). The first thing to run:

    python examples/mlp_digits.py

It reaches about 98 % test accuracy in a few seconds. --help lists the options.

Data-parallel on two processes (pip install -e ".[mpi]"; see docs/distributed.md):

    mpiexec -n 2 python examples/mlp_digits.py --distributed

Each rank trains on its half of every batch of --batch-size examples; the gradients are averaged
over the ranks inside the compiled step, so the run reaches the accuracy of one process.
"""

import itertools
import time

import numpy as np
from _common import QUICK_BATCHES, evaluate, fit, make_parser, plot_history, report_test

import symdl
import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, objectives, updates


def build_mlp(input_var=None, hidden=256, drop_input=0.1, drop_hidden=0.3):
    """64 pixels -> dropout -> 256 ReLU -> dropout -> 256 ReLU -> dropout -> 10-way softmax."""
    net = layers.InputLayer((None, 1, 8, 8), input_var=input_var)
    net = layers.DropoutLayer(net, p=drop_input)
    for _ in range(2):
        net = layers.DenseLayer(net, hidden, nonlinearity=nonlinearities.rectify, W=init.GlorotUniform(gain="relu"))
        net = layers.DropoutLayer(net, p=drop_hidden)
    return layers.DenseLayer(net, 10, nonlinearity=nonlinearities.softmax)


def fit_distributed(train_fn, eval_fn, data, args, on_epoch):
    """``fit`` for one rank of several: each rank takes its part of every global batch (the same
    shuffled batches on every rank), and rank 0 prints."""
    from symdl import distributed

    X_train, y_train, X_val, y_val = data[:4]
    sampler = distributed.DistributedSampler(len(X_train), args.batch_size, seed=args.seed)
    epochs = 1 if args.quick else args.epochs
    history = {"train_loss": [], "val_loss": [], "val_acc": []}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        on_epoch(epoch)
        sampler.set_epoch(epoch)
        batches = itertools.islice(sampler.batches(X_train, y_train), QUICK_BATCHES if args.quick else None)
        losses = [float(train_fn(Xb, yb)) for Xb, yb in batches]
        val_loss, val_acc = evaluate(eval_fn, X_val, y_val)
        for key, value in zip(history, (np.mean(losses), val_loss, val_acc)):
            history[key].append(float(value))
        if distributed.rank() == 0:
            print(
                f"epoch {epoch:3d}/{epochs}  train loss {np.mean(losses):.4f}  val loss {val_loss:.4f}  "
                f"val accuracy {100 * val_acc:6.2f} %  ({time.perf_counter() - start:.1f} s, "
                f"rank 0 of {distributed.size()})",
                flush=True,
            )
    return history


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], epochs=30, batch_size=64, learning_rate=0.1)
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the ranks of an MPI launch (mpiexec -n 2 ...); --batch-size is the global batch",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rank = 0
    if args.distributed:
        from symdl import distributed

        distributed.init()
        rank = distributed.rank()
    # Each rank its own seed: its own dropout masks; the weights are then rank 0's (broadcast below).
    init.set_rng(np.random.RandomState(args.seed + rank))
    data = datasets.load_digits()

    x, y = T.tensor4("x"), T.ivector("y")
    net = build_mlp(x)
    # Training output: dropout on. Evaluation output: deterministic=True turns it off.
    prediction = layers.get_output(net)
    loss = objectives.categorical_crossentropy(prediction, y).mean()
    params = layers.get_all_params(net, trainable=True)
    grads = loss
    if args.distributed:
        distributed.broadcast(net)  # every rank starts from rank 0's weights
        grads = distributed.allreduce_grads(loss, params)  # averaged over the ranks in the step
        loss = distributed.allreduce(loss, op="mean")  # the loss of the whole global batch
    # A shared learning rate can change between calls: it decays linearly to a tenth.
    learning_rate = symdl.shared(args.learning_rate, name="learning_rate")
    train_fn = symdl.function([x, y], loss, updates=updates.nesterov_momentum(grads, params, learning_rate))
    test_prediction = layers.get_output(net, deterministic=True)
    test_loss = objectives.categorical_crossentropy(test_prediction, y).mean()
    test_acc = objectives.categorical_accuracy(test_prediction, y).mean()
    eval_fn = symdl.function([x, y], [test_loss, test_acc])

    if rank == 0:
        print(f"MLP with {layers.count_params(net)} parameters on {len(data[0])} training digits")

    def schedule(epoch):
        learning_rate.set_value(np.float32(args.learning_rate * (1 - 0.9 * (epoch - 1) / args.epochs)))

    if args.distributed:
        history = fit_distributed(train_fn, eval_fn, data, args, on_epoch=schedule)
        if rank != 0:
            return evaluate(eval_fn, data[4], data[5])[1]
    else:
        history = fit(train_fn, eval_fn, data, args, on_epoch=schedule)
    accuracy = report_test(eval_fn, data[4], data[5], started)
    if args.plot:
        plot_history(history, args.plot, "MLP on the digits")
    return accuracy


if __name__ == "__main__":
    main()
