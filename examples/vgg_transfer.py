"""The talk's transfer-learning workflow with VGG19 from Lasagne's model zoo: load the pretrained
network, keep its convolutional layers, put a new head on top, train only the head, then
fine-tune everything with a lower learning rate on augmented images:

    python examples/vgg_transfer.py --weights vgg19.pkl --images DIR [--plot vgg.png]

vgg19.pkl is the zoo's file (https://s3.amazonaws.com/lasagne/recipes/pretrained/imagenet/vgg19.pkl,
550 MB; symdl does not download it). DIR holds one subdirectory per class with its photos (PNG
or JPEG, any size): DIR/cats/*.jpg, DIR/dogs/*.jpg, ... A quarter of each class is held out.

Training only the head is cheap: the frozen layers compute the same features every epoch, so
they run once per image and the head trains on the stored features. Fine-tuning runs the whole
network forwards and backwards (about 60 GFLOP per 224x224 image: minutes per epoch on a CPU for
a few hundred photos), with mirrored photos and shifted crops (photos of things: mirroring
suits them; turning them upside down would not).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from _common import pyplot, save_figure
from tqdm import tqdm

import symdl
import symdl.tensor as T
from symdl import init, layers, nonlinearities, objectives, updates
from symdl.data import BackgroundLoader, Compose, HorizontalFlip, RandomCrop, iterate_minibatches
from symdl.models import VGG_MEAN_BGR, load_lasagne_pickle, preprocess_vgg, vgg19

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, metavar="vgg19.pkl", help="the model zoo's VGG19 pickle")
    parser.add_argument("--images", required=True, metavar="DIR", help="one subdirectory of images per class")
    parser.add_argument("--epochs", type=int, default=20, help="epochs training the new head (default 20)")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="epochs fine-tuning all layers (default 2)")
    parser.add_argument("--batch-size", type=int, default=16, help="minibatch size (default 16)")
    parser.add_argument("--learning-rate", type=float, default=0.001, help="Adam's step size for the head")
    parser.add_argument("--finetune-factor", type=float, default=0.1, help="learning rate factor for fine-tuning")
    parser.add_argument("--hidden", type=int, default=256, help="units of the new hidden layer (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new weights, the split and the order")
    parser.add_argument("--save", metavar="FILE.npz", help="save the fine-tuned network's parameters here")
    parser.add_argument("--plot", metavar="OUT.png", help="save the validation accuracy curve to this PNG file")
    parser.add_argument("--quick", action="store_true", help="one epoch of each phase, to check that it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.finetune_epochs = 1, 1
    return args


def read_images(directory):
    """RGB arrays and class indices from DIR/<class>/<image>; the class names."""
    from PIL import Image  # installed with matplotlib (the examples extra)

    root = Path(directory)
    if not root.is_dir():
        raise SystemExit(f"{root} is not a directory; give one subdirectory of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as image:
                    images.append(np.asarray(image.convert("RGB")))
                labels.append(label)
    if len(classes) < 2 or not images:
        raise SystemExit(f"{root} needs at least two subdirectories of images (one per class), found {classes}")
    return images, np.asarray(labels, np.int32), classes


def split(labels, rng, held_out=0.25):
    """Indices of a training and a validation set, a quarter of each class held out (at least one)."""
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = max(1, int(round(held_out * len(members)))) if len(members) > 1 else 0
        val += members[:n_val].tolist()
        train += members[n_val:].tolist()
    return np.asarray(train), np.asarray(val)


def build_head(incoming, hidden, classes):
    net = layers.DenseLayer(layers.dropout(incoming, p=0.5), hidden, name="new_fc")
    return layers.DenseLayer(layers.dropout(net, p=0.5), classes, nonlinearity=nonlinearities.softmax, name="new_prob")


def accuracy_fn(inputs, prediction, y):
    return symdl.function([inputs, y], objectives.categorical_accuracy(prediction, y).mean())


def evaluate(fn, X, y, batch_size):
    correct = sum(float(fn(Xb, yb)) * len(yb) for Xb, yb in iterate_minibatches(X, y, batch_size, shuffle=False))
    return correct / len(y)


def plot(curve, head_epochs, path):
    fig, ax = pyplot().subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), "o-")
    ax.axvline(head_epochs + 0.5, color="grey", linestyle="--", label="fine-tuning from here")
    ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title="VGG19: new head, then fine-tuning")
    ax.legend()
    save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    init.set_rng(np.random.RandomState(args.seed))
    rng = np.random.default_rng(args.seed)

    images, labels, classes = read_images(args.images)
    try:
        model = load_lasagne_pickle(args.weights)  # errors say what is wrong with the file
        net = vgg19(weights=model)  # the layers take the zoo's arrays (count and shapes checked)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{type(exc).__name__}: {exc}") from None
    mean = model.get("mean value", VGG_MEAN_BGR)
    del model
    X = preprocess_vgg(images, mean=mean)  # 256 on the shorter side, central 224 crop, BGR, minus the mean
    train, val = split(labels, rng)
    print(f"{len(images)} images of {len(classes)} classes {classes}: {len(train)} to train on, {len(val)} held out")

    # 1. The new head on the convolutional layers; everything below it frozen.
    head = build_head(net["pool5"], args.hidden, len(classes))
    layers.set_trainable(net["pool5"], False)
    features_fn = symdl.function([net["input"].input_var], layers.get_output(net["pool5"], deterministic=True))
    features = np.concatenate(
        [
            features_fn(Xb)
            for Xb, _ in tqdm(
                iterate_minibatches(X, labels, args.batch_size, shuffle=False), desc="features", leave=False
            )
        ]
    )
    print(f"pool5 features of every image: {features.shape} ({time.perf_counter() - started:.1f} s)")
    f, y = T.tensor4("pool5"), T.ivector("y")
    prediction = layers.get_output(head, inputs={net["pool5"]: f})
    loss = objectives.categorical_crossentropy(prediction, y).mean()
    params = layers.get_all_params(head, trainable=True)
    print("training", [p.name for p in params])
    train_head = symdl.function([f, y], loss, updates=updates.adam(loss, params, args.learning_rate))
    head_accuracy = accuracy_fn(f, layers.get_output(head, inputs={net["pool5"]: f}, deterministic=True), y)
    curve = []
    for epoch in range(1, args.epochs + 1):
        losses = [
            float(train_head(Fb, yb))
            for Fb, yb in iterate_minibatches(features[train], labels[train], args.batch_size, seed=rng)
        ]
        curve.append(evaluate(head_accuracy, features[val], labels[val], args.batch_size))
        print(
            f"head epoch {epoch:3d}/{args.epochs}  train loss {np.mean(losses):.4f}  val accuracy {100 * curve[-1]:6.2f} %",
            flush=True,
        )

    # 2. Fine-tune everything at a lower learning rate, on mirrored and shifted crops of the photos.
    layers.set_trainable(net["pool5"], True)
    x = net["input"].input_var
    loss = objectives.categorical_crossentropy(layers.get_output(head), y).mean()
    params = layers.get_all_params(head, trainable=True)
    step = updates.adam(loss, params, args.learning_rate * args.finetune_factor)
    train_all = symdl.function([x, y], loss, updates=step)
    full_accuracy = accuracy_fn(x, layers.get_output(head, deterministic=True), y)
    augment = Compose([HorizontalFlip(), RandomCrop(padding=16, mode="edge")])
    loader = BackgroundLoader(X[train], labels[train], args.batch_size, transform=augment, seed=args.seed, prefetch=2)
    for epoch in range(1, args.finetune_epochs + 1):
        loader.progress = f"fine-tuning {epoch}/{args.finetune_epochs}"
        losses = [float(train_all(Xb, yb)) for Xb, yb in loader]
        curve.append(evaluate(full_accuracy, X[val], labels[val], args.batch_size))
        print(
            f"fine-tuning epoch {epoch:3d}/{args.finetune_epochs}  train loss {np.mean(losses):.4f}  "
            f"val accuracy {100 * curve[-1]:6.2f} %  ({time.perf_counter() - started:.1f} s)",
            flush=True,
        )
    if args.save:
        layers.save_params(head, args.save)
        print(f"saved the parameters to {args.save}")
    if args.plot:
        plot(curve, args.epochs, args.plot)
    print(f"validation accuracy {100 * curve[-1]:.2f} % (total {time.perf_counter() - started:.1f} s)")
    return curve[-1]


if __name__ == "__main__":
    main()
