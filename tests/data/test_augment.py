"""Augmentations: shapes, seeds, identity at zero strength, and what each does."""

import numpy as np
import pytest

from symdl.data import (
    BrightnessContrast,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomRotation,
    RandomScale,
    RandomShift,
    VerticalFlip,
)

SHAPE = (6, 3, 5, 7)  # odd sizes, non-square


@pytest.fixture
def images():
    return np.random.default_rng(0).random(SHAPE).astype(np.float32)


RANDOM = {
    "hflip": HorizontalFlip(),
    "vflip": VerticalFlip(),
    "crop": RandomCrop(padding=2),
    "crop_smaller": RandomCrop(size=(3, 4), padding=1, mode="reflect"),
    "shift": RandomShift(2),
    "rotation": RandomRotation(20),
    "scale": RandomScale(0.2),
    "affine": RandomAffine(rotation=10, scale=(0.9, 1.2), shift=1.5, fill=0.5),
    "jitter": BrightnessContrast(0.2, 0.3),
    "compose": Compose([RandomShift(1), HorizontalFlip(), BrightnessContrast(0.1)]),
}
IDENTITY = {
    "hflip": HorizontalFlip(p=0.0),
    "vflip": VerticalFlip(p=0.0),
    "crop": RandomCrop(padding=0),
    "shift": RandomShift(0),
    "rotation": RandomRotation(0),
    "scale": RandomScale(0.0),
    "affine": RandomAffine(),
    "jitter": BrightnessContrast(0.0, 0.0),
    "normalize": Normalize(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0]),
    "compose": Compose([RandomShift(0), RandomAffine(), BrightnessContrast()]),
}


@pytest.mark.parametrize("name", RANDOM)
def test_same_seed_same_batch_and_shapes_kept(name, images):
    transform = RANDOM[name]
    before = images.copy()
    out = transform(images, seed=7)
    expected = (SHAPE[0], SHAPE[1], 3, 4) if name == "crop_smaller" else SHAPE
    assert out.shape == expected and out.dtype == np.float32
    np.testing.assert_array_equal(out, transform(images, seed=7))
    assert any(not np.array_equal(out, transform(images, seed=s)) for s in range(8, 12))
    np.testing.assert_array_equal(images, before)  # the input is left alone


@pytest.mark.parametrize("name", IDENTITY)
def test_zero_strength_is_the_identity(name, images):
    out = IDENTITY[name](images, seed=3)
    assert out is not images
    np.testing.assert_array_equal(out, images)


def test_flips_mirror_whole_images_with_probability_p(images):
    np.testing.assert_array_equal(HorizontalFlip(p=1.0)(images), images[..., ::-1])
    np.testing.assert_array_equal(VerticalFlip(p=1.0)(images), images[:, :, ::-1])
    many = np.random.default_rng(1).random((400, 1, 2, 2))
    out = HorizontalFlip(p=0.5)(many, seed=0)
    flipped = np.all(out == many[..., ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == many, axis=(1, 2, 3)))
    assert 150 < flipped.sum() < 250


def test_crops_are_windows_of_the_padded_image_at_every_offset(images):
    out = RandomCrop(size=(3, 4), padding=1)(np.repeat(images, 30, axis=0), seed=0)
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = set()
    for n, crop in enumerate(out):
        source = padded[n // 30]
        found = [(t, c) for t in range(5) for c in range(6) if np.array_equal(source[:, t : t + 3, c : c + 4], crop)]
        assert found, f"crop {n} is no window of its image"
        offsets.update(found)
    assert len(offsets) == 5 * 6  # every offset occurs
    with pytest.raises(ValueError, match="a 9x9 window does not fit in images of 5x7 padded by 1"):
        RandomCrop(size=9, padding=1)(images)


def test_shifts_move_images_by_whole_pixels_and_fill_the_border(images):
    out = RandomShift(1, fill=-1.0)(images, seed=0)
    for image, shifted in zip(images, out):
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                want = np.full_like(image, -1.0)
                want[:, max(dy, 0) : 5 + min(dy, 0), max(dx, 0) : 7 + min(dx, 0)] = image[
                    :, max(-dy, 0) : 5 + min(-dy, 0), max(-dx, 0) : 7 + min(-dx, 0)
                ]
                matches.append(np.array_equal(shifted, want))
        assert sum(matches) == 1


def test_affine_rotates_a_quarter_turn_and_shifts_by_the_drawn_amount():
    square = np.random.default_rng(2).random((2, 2, 6, 6))
    quarter = RandomAffine(rotation=(90, 90))(square)
    turned = [np.rot90(square, k, axes=(2, 3)) for k in (1, 3)]
    assert any(np.allclose(quarter, t, atol=1e-9) for t in turned)
    shifted = RandomAffine(shift=(2, 2))(square)  # two pixels down and right
    np.testing.assert_allclose(shifted[:, :, 2:, 2:], square[:, :, :-2, :-2], atol=1e-12)
    np.testing.assert_array_equal(shifted[:, :, :2], 0)
    zoomed = RandomScale((2, 2))(np.ones((1, 1, 9, 9)))
    np.testing.assert_allclose(zoomed, 1.0)  # magnifying the centre of a flat image stays flat
    shrunk = RandomScale((0.5, 0.5))(np.ones((1, 1, 9, 9)))
    assert shrunk[0, 0, 4, 4] == 1.0 and shrunk[0, 0, 0, 0] == 0.0  # the border is filled


def test_integer_images_keep_their_dtype_where_no_arithmetic_is_done():
    digits = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    assert RandomShift(1)(digits).dtype == np.uint8 and HorizontalFlip()(digits).dtype == np.uint8
    assert RandomRotation(10)(digits).dtype == np.float32


def test_brightness_adds_a_per_image_constant_and_contrast_keeps_the_mean(images):
    brighter = BrightnessContrast(brightness=0.5)(images, seed=0)
    offsets = (brighter - images).reshape(len(images), -1)
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(offsets.shape[1], 1), atol=1e-6)
    assert np.all(np.abs(offsets) <= 0.5)
    contrasted = BrightnessContrast(contrast=0.5)(images, seed=0)
    np.testing.assert_allclose(contrasted.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)), atol=1e-6)
    assert not np.allclose(contrasted, images)


def test_normalize_standardises_each_channel_with_training_statistics(images):
    train = images * np.array([1.0, 10.0, 100.0], np.float32)[None, :, None, None] + 3
    norm = Normalize.fit(train)
    out = norm(train)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)
    with pytest.raises(ValueError, match="statistics of 3 channels, images of 1"):
        norm(images[:, :1])
    with pytest.raises(ValueError, match="standard deviations must be positive"):
        Normalize([0.0], [0.0])


def test_compose_applies_in_order_from_one_stream(images):
    first, second = RandomShift(1), RandomRotation(15)
    rng = np.random.default_rng(5)
    want = second.apply(first.apply(images, rng), rng)
    np.testing.assert_array_equal(Compose([first, second])(images, seed=5), want)


def test_a_batch_must_be_four_dimensional():
    with pytest.raises(
        ValueError, match=r"RandomShift: expected a batch of images \(batch, channels, rows, cols\), got shape \(8, 8\)"
    ):
        RandomShift(1)(np.zeros((8, 8)))
