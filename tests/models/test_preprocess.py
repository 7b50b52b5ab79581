"""preprocess_vgg: the zoo notebooks' resize, central crop, BGR order and mean subtraction."""

import numpy as np
import pytest

from symdl.models import VGG_MEAN_BGR, preprocess_vgg


def test_channels_are_reordered_to_bgr_and_the_mean_pixel_subtracted():
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    out = preprocess_vgg(rgb)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, 5, 7], np.array([30, 20, 10]) - VGG_MEAN_BGR, rtol=1e-6)
    np.testing.assert_allclose(preprocess_vgg(rgb, mean=[0, 0, 0])[0, :, 0, 0], [30, 20, 10])


def test_the_shorter_side_becomes_256_and_the_centre_224_is_kept():
    # Columns carry their own index: scaled by a half to 256 x 512, then cropped to the central 224
    # columns (from 144 on), column j of the result is centred on original column 2 * (144 + j) + 0.5.
    image = np.broadcast_to(np.arange(1024.0)[None, :, None], (512, 1024, 3)).copy()
    out = preprocess_vgg(image, mean=[0, 0, 0])[0, 0]
    np.testing.assert_allclose(out[100], 2 * (144 + np.arange(224)) + 0.5, rtol=1e-6)
    assert np.ptp(out[:, 50]) == 0  # every row alike
    tall = preprocess_vgg(np.zeros((600, 300, 3)), mean=[0, 0, 0], short_side=224)
    assert tall.shape == (1, 3, 224, 224)


def test_constant_images_stay_constant_through_resizing_at_any_scale():
    for shape in ((100, 150, 3), (256, 256, 3), (1000, 700, 3), (300, 1200, 4)):
        out = preprocess_vgg(np.full(shape, 77, np.uint8), mean=[0, 0, 0])
        np.testing.assert_allclose(out, 77, rtol=1e-6)


def test_batches_lists_of_sizes_grey_and_unit_range_images():
    batch = np.zeros((2, 300, 300, 3), np.uint8)
    assert preprocess_vgg(batch).shape == (2, 3, 224, 224)
    mixed = [np.zeros((300, 400, 3), np.uint8), np.zeros((500, 260, 3), np.uint8), np.zeros((240, 240), np.uint8)]
    assert preprocess_vgg(mixed).shape == (3, 3, 224, 224)
    unit = np.full((224, 224, 3), 0.5, np.float32)  # what matplotlib's imread gives for a PNG
    np.testing.assert_allclose(preprocess_vgg(unit, mean=[0, 0, 0]), 127.5, rtol=1e-6)


def test_bad_images_and_means_are_reported():
    with pytest.raises(ValueError, match=r"image 0 has shape \(10, 10, 2\)"):
        preprocess_vgg(np.zeros((10, 10, 2)))
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\) or \(3, 224, 224\)"):
        preprocess_vgg(np.zeros((10, 10, 3)), mean=[1.0, 2.0])
    with pytest.raises(ValueError, match="crop=300 does not fit"):
        preprocess_vgg(np.zeros((10, 10, 3)), crop=300)
