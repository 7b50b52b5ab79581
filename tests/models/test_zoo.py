"""Reading and writing the model zoo's pickles, and loading them into VGG19 at full size."""

import io
import pickle
import pickletools

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import symdl
from symdl import layers
from symdl.errors import ShapeError
from symdl.models import (
    load_lasagne_pickle,
    load_weights,
    param_shapes,
    preprocess_vgg,
    save_lasagne_pickle,
    vgg16,
    vgg19,
)

# pickle.dumps(numpy.array([1, 2], numpy.float32), 2) as Python 2.7 with NumPy 1.x writes it.
PYTHON2_ARRAY_PICKLE = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87Rq\x03"
    b"(K\x01K\x02\x85cnumpy\ndtype\nq\x04U\x02f4K\x00K\x01\x87Rq\x05(K\x03U\x01<NNNJ\xff\xff\xff\xff"
    b"J\xff\xff\xff\xffK\x00tb\x89U\x08\x00\x00\x80?\x00\x00\x00@tb."
)


def zero_values(depth):
    """Read-only zero arrays of VGG's shapes that take no memory, for checks of shapes and order."""
    return [np.broadcast_to(np.float32(0), shape) for _, shape in param_shapes(depth)]


def write_pickle(path, model):
    save_lasagne_pickle(path, model)
    return path


def correlate_same(image, filters, bias):
    """NumPy reference of a 3x3 cross-correlation with pad 1 plus bias, then ReLU (one image)."""
    padded = np.pad(image.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(padded, (3, 3), axis=(1, 2))  # (C, H, W, 3, 3)
    columns = windows.transpose(1, 2, 0, 3, 4).reshape(-1, filters[0].size)  # (H*W, C*3*3)
    out = (columns @ filters.reshape(len(filters), -1).T.astype(np.float64)).T.reshape(len(filters), *image.shape[1:])
    out += bias[:, None, None]
    return np.maximum(out, 0)


def test_full_size_vgg19_from_a_zoo_pickle_predicts_and_its_first_layer_is_a_cross_correlation(vgg19_zoo_file):
    model = load_lasagne_pickle(vgg19_zoo_file)
    assert sorted(model) == ["mean value", "param values", "synset words"]
    values = model["param values"]
    assert len(values) == 38 and all(v.dtype == np.float32 for v in values)
    assert model["synset words"][7] == "n00000007 class 7"
    np.testing.assert_allclose(model["mean value"], [103.939, 116.779, 123.68])

    net = vgg19()
    layers.set_all_param_values(net["prob"], values)
    np.testing.assert_array_equal(net["conv5_4"].W.get_value(), values[30])

    photo = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    image = preprocess_vgg(photo, mean=model["mean value"])
    del model, values
    predict = symdl.function(
        [net["input"].input_var],
        [layers.get_output(net["prob"], deterministic=True), layers.get_output(net["conv1_1"], deterministic=True)],
        mode="c",
    )
    probabilities, conv1_1 = predict(image)
    assert probabilities.shape == (1, 1000) and np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
    want = correlate_same(image[0], net["conv1_1"].W.get_value(), net["conv1_1"].b.get_value())
    np.testing.assert_allclose(conv1_1[0], want, rtol=1e-4, atol=1e-3 * np.abs(want).max())


def test_vgg_networks_have_the_zoos_layers_and_take_its_arrays_in_order():
    for depth, build, count in ((16, vgg16, 32), (19, vgg19, 38)):
        net = build(weights=zero_values(depth))
        convs = [name for name in net if name.startswith("conv")]
        assert list(net) == (
            ["input"]
            + [
                name
                for block in range(1, 6)
                for name in [c for c in convs if c.startswith(f"conv{block}_")] + [f"pool{block}"]
            ]
            + ["fc6", "fc6_dropout", "fc7", "fc7_dropout", "fc8", "prob"]
        )
        assert len(convs) == depth - 3
        assert all(not net[name].flip_filters and net[name].pad == (1, 1) for name in convs)
        assert all(net[f"pool{b}"].pool_size == (2, 2) and net[f"pool{b}"].mode == "max" for b in range(1, 6))
        assert net["pool5"].output_shape == (None, 512, 7, 7)
        assert [net[n].num_units for n in ("fc6", "fc7", "fc8")] == [4096, 4096, 1000]
        params = layers.get_all_params(net["prob"])
        assert [(p.name, p.get_value(borrow=True).shape) for p in params] == param_shapes(depth)
        assert len(params) == count
        layers.set_all_param_values(net["prob"], zero_values(depth))


def test_the_written_pickle_has_python_2s_layout_and_needs_latin1(tmp_path):
    buffer = io.BytesIO()
    save_lasagne_pickle(buffer, {"param values": [np.array([1, 2], np.float32)]})
    data = buffer.getvalue()
    opcodes = [op.name for op, _, _ in pickletools.genops(data)]
    globals_ = [arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"]
    assert data[:2] == b"\x80\x02"
    assert globals_ == ["numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"]
    assert "SHORT_BINBYTES" not in opcodes and "BINUNICODE" not in opcodes  # Python 2 str, not bytes/unicode
    strings = [arg for op, arg, _ in pickletools.genops(data) if op.name == "SHORT_BINSTRING"]
    assert strings == ["param values", "b", "f4", "<", np.array([1, 2], np.float32).tobytes().decode("latin1")]
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)  # why the zoo's files need encoding='latin1'
    big = write_pickle(tmp_path / "big.pkl", {"param values": [np.arange(300, dtype=np.float32)]})
    assert "BINSTRING" in [op.name for op, _, _ in pickletools.genops(big.read_bytes())]
    np.testing.assert_array_equal(load_lasagne_pickle(big)["param values"][0], np.arange(300))


def test_a_pickle_written_by_python_2_loads(tmp_path):
    path = tmp_path / "py2.pkl"
    # {'param values': [array]} around the array as Python 2 wrote it.
    path.write_bytes(b"\x80\x02}q\x00U\x0cparam valuesq\x06]q\x07" + PYTHON2_ARRAY_PICKLE[2:-1] + b"as.")
    values = load_lasagne_pickle(path)["param values"]
    assert values[0].dtype == np.float32
    np.testing.assert_array_equal(values[0], [1.0, 2.0])


def test_written_pickles_round_trip_values_dtypes_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    model = {
        "param values": [rng.normal(size=(3, 2, 2)).astype(np.float32), np.arange(5, dtype=np.int64), np.float64(2.5)],
        "synset words": ["tench, Tinca tinca", "café"],
        "mean value": np.array([1.0, 2.0, 3.0]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }
    with pytest.raises(ValueError, match="parameter value 2 is a float64, not a NumPy array"):
        load_lasagne_pickle(write_pickle(tmp_path / "m.pkl", model))
    model["param values"] = model["param values"][:2]
    back = load_lasagne_pickle(write_pickle(tmp_path / "m.pkl", model))
    for a, b in zip(back["param values"], model["param values"]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back["synset words"] == model["synset words"]
    np.testing.assert_array_equal(back["fortran"], model["fortran"])
    assert not (tmp_path / "m.pkl.part").exists()


def test_the_older_values_and_mean_image_variant_loads(tmp_path):
    net = layers.DenseLayer(layers.InputLayer((None, 3)), 2, name="fc")
    values = [np.full((3, 2), 0.5, np.float32), np.ones(2, np.float32)]
    path = write_pickle(tmp_path / "vgg_cnn_s.pkl", {"values": values, "mean image": np.zeros((3, 224, 224))})
    model = load_lasagne_pickle(path)
    assert sorted(model) == ["mean image", "values"]
    assert sorted(load_weights(net, path)) == ["mean image"]
    np.testing.assert_array_equal(net.W.get_value(), values[0])
    assert preprocess_vgg(np.zeros((224, 224, 3)), mean=model["mean image"]).shape == (1, 3, 224, 224)


def test_a_truncated_file_is_reported_with_its_size(tmp_path):
    path = write_pickle(tmp_path / "vgg19.pkl", {"param values": [np.zeros((64, 3, 3, 3), np.float32)]})
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(
            ValueError, match=rf"vgg19.pkl: cannot read the pickle .*at {cut:,} bytes the file is truncated"
        ):
            load_lasagne_pickle(path)


def test_missing_files_wrong_contents_and_foreign_objects_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="s3.amazonaws.com/lasagne/recipes/pretrained/imagenet"):
        load_lasagne_pickle(tmp_path / "vgg19.pkl")
    with pytest.raises(ValueError, match=r"no 'param values' \(nor 'values'\).*\['weights'\]"):
        load_lasagne_pickle(write_pickle(tmp_path / "a.pkl", {"weights": []}))
    (tmp_path / "b.pkl").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="holds a dict, this one a list"):
        load_lasagne_pickle(tmp_path / "b.pkl")
    (tmp_path / "c.pkl").write_bytes(
        pickle.dumps({"param values": [], "when": __import__("datetime").date(2015, 1, 1)})
    )
    with pytest.raises(pickle.UnpicklingError, match="datetime.date.*trusted=True"):
        load_lasagne_pickle(tmp_path / "c.pkl")
    assert load_lasagne_pickle(tmp_path / "c.pkl", trusted=True)["when"].year == 2015


def test_a_wrong_layer_count_or_shape_names_the_layout_and_the_layer(tmp_path):
    with pytest.raises(ValueError, match=r"32 \(VGG-16's layout\) parameter arrays, but vgg19 has 38 \(VGG-19's"):
        vgg19(weights=zero_values(16))
    values = zero_values(19)
    values[14] = np.zeros((512, 512, 3, 3), np.float32)
    with pytest.raises(
        ShapeError, match=r"array 14 has shape \(512, 512, 3, 3\) but conv3_4.W \(layer 'conv3_4' of vgg19\)"
    ):
        vgg19(weights=values)
    net = layers.DenseLayer(layers.DenseLayer(layers.InputLayer((None, 4)), 3, name="hidden"), 2, name="out")
    path = write_pickle(tmp_path / "three.pkl", {"param values": [np.zeros((4, 3), np.float32)] * 3})
    with pytest.raises(ValueError, match=r"three.pkl: 3 parameter arrays, but the network has 4 parameters"):
        load_weights(net, path)
    path = write_pickle(
        tmp_path / "wide.pkl", {"param values": [np.zeros((4, 3)), np.zeros(3), np.zeros((3, 5)), np.zeros(5)]}
    )
    with pytest.raises(
        ShapeError, match=r"array 2 has shape \(3, 5\) but out.W \(layer 'out', DenseLayer\) has shape \(3, 2\)"
    ):
        load_weights(net, path)
