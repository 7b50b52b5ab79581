"""examples/vgg_transfer.py on the full-size VGG19 file in the zoo's format (random values) and a
few generated photos: the whole workflow runs (features, new head, fine-tuning, saving)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def run_example(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "vgg_transfer.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def write_photos(directory):
    """Three photos per class of random sizes, reddish or bluish, as JPEG and PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, channel in (("blue", 2), ("red", 0)):
        (directory / name).mkdir(parents=True)
        for k in range(3):
            rows, cols = rng.integers(200, 320, 2)
            photo = rng.integers(0, 80, (rows, cols, 3)).astype(np.uint8)
            photo[..., channel] += 150
            Image.fromarray(photo).save(directory / name / f"{k}.{'png' if k % 2 else 'jpg'}")
    (directory / "blue" / "notes.txt").write_text("not an image")


def test_the_vgg19_workflow_runs_on_a_full_size_zoo_file(vgg19_zoo_file, tmp_path):
    write_photos(tmp_path / "photos")
    result = run_example(
        "--weights", vgg19_zoo_file, "--images", tmp_path / "photos", "--quick", "--batch-size", "4",
        "--save", tmp_path / "tuned.npz", "--plot", tmp_path / "vgg.png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "6 images of 2 classes ['blue', 'red']: 4 to train on, 2 held out" in out
    assert "pool5 features of every image: (6, 512, 7, 7)" in out
    assert "training ['new_fc.W', 'new_fc.b', 'new_prob.W', 'new_prob.b']" in out
    assert re.search(r"fine-tuning epoch +1/1 +train loss", out)
    assert re.search(r"validation accuracy \d+\.\d+ %", out.splitlines()[-1])
    with np.load(tmp_path / "tuned.npz") as saved:
        assert len(saved.files) == 38 - 6 + 4 and saved.files[0] == "conv1_1.W"
    assert (tmp_path / "vgg.png").read_bytes()[:4] == b"\x89PNG"


def test_a_missing_or_truncated_weights_file_is_reported(tmp_path, vgg19_zoo_file):
    write_photos(tmp_path / "photos")
    result = run_example("--weights", tmp_path / "vgg19.pkl", "--images", tmp_path / "photos")
    assert result.returncode == 1 and "s3.amazonaws.com/lasagne/recipes/pretrained" in result.stderr
    truncated = tmp_path / "truncated.pkl"
    with open(vgg19_zoo_file, "rb") as f:
        truncated.write_bytes(f.read(1_000_000))
    result = run_example("--weights", truncated, "--images", tmp_path / "photos")
    assert result.returncode == 1 and "at 1,000,000 bytes the file is truncated" in result.stderr
