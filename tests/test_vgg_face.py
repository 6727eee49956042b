"""VGG-Face architecture, preprocessing, and the MatConvNet / Keras HDF5 importers (tiny widths)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
h5py = pytest.importorskip("h5py")
scipy_io = pytest.importorskip("scipy.io")

from caae_tf.errors import ModelError
from caae_tf.models.vgg_face import (
    CONV_NAMES, LAYER_NAMES, VGG_FACE_MEAN_RGB, IdentityFeatures, VGGFace, load_identity_network,
    load_vgg_face_h5, load_vgg_face_mat,
)

WIDTH, SIZE, CLASSES = 1 / 16, 64, 5  # convs 4, 8, 16, 32, 32; pool5 2×2; fc 256


def tiny(**kw) -> VGGFace:
    m = VGGFace(kw.pop("width_multiplier", WIDTH), kw.pop("num_classes", CLASSES), kw.pop("input_size", SIZE), **kw)
    m.build_weights()
    return m


def random_weights(model: VGGFace, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MatConvNet-shaped weights: filters [h, w, in, out] (fc layers as convolutions), biases [out]."""
    rng = np.random.default_rng(seed)
    side = SIZE // 32
    out = {}
    for name, layer in model.named_layers().items():
        k = tuple(layer.kernel.shape)
        if name == "fc6":
            k = (side, side, k[0] // (side * side), k[1])
        elif name in ("fc7", "fc8"):
            k = (1, 1, *k)
        out[name] = (rng.normal(0, 0.1, k).astype(np.float32), rng.normal(0, 0.1, k[-1]).astype(np.float32))
    return out


def _cell(*items):
    c = np.empty(len(items), dtype=object)
    for i, it in enumerate(items):
        c[i] = it
    return c


def write_mat(path, weights, old_layout=False):
    """A file in the layout of MatConvNet's vgg_face.mat: struct net with a cell array net.layers."""
    entries = []
    for block in range(1, 6):
        for name in [n for n in CONV_NAMES if n.startswith(f"conv{block}_")]:
            f, b = weights[name]
            if old_layout:
                entries.append({"name": name, "type": "conv", "filters": f, "biases": b.reshape(1, -1)})
            else:
                entries.append({"name": name, "type": "conv", "weights": _cell(f, b.reshape(1, -1)),
                                "stride": np.array([1, 1]), "pad": np.array([1, 1, 1, 1])})
            entries.append({"name": "relu" + name[4:], "type": "relu"})
        entries.append({"name": f"pool{block}", "type": "pool", "method": "max"})
    for name in ("fc6", "fc7", "fc8"):
        f, b = weights[name]
        entries.append({"name": name, "type": "conv", "weights": _cell(f, b.reshape(1, -1))})
        if name != "fc8":
            entries.append({"name": "relu" + name[2:], "type": "relu"})
            entries.append({"name": "dropout" + name[2:], "type": "dropout", "rate": 0.5})
    entries.append({"name": "prob", "type": "softmax"})
    net = {"layers": _cell(*entries),
           "normalization": {"averageImage": np.array(VGG_FACE_MEAN_RGB), "imageSize": np.array([SIZE, SIZE, 3])}}
    scipy_io.savemat(str(path), {"net": net})


def write_keras2_h5(path, weights, top_level=False, skip=()):
    """rcmalli/keras-vggface style: [model_weights/]<layer>/<layer>/kernel:0, bias:0 (Dense kernels 2-D)."""
    with h5py.File(path, "w") as fh:
        root = fh if top_level else fh.create_group("model_weights")
        for name, (f, b) in weights.items():
            if name in skip:
                continue
            g = root.create_group(name).create_group(name)
            g["kernel:0"] = f if name.startswith("conv") else f.reshape(-1, f.shape[-1])
            g["bias:0"] = b


def assert_loaded(model, weights, flip_first=False):
    for name, (f, b) in weights.items():
        layer = model.named_layers()[name]
        expect = f.reshape(tuple(layer.kernel.shape))
        if flip_first and name == "conv1_1":
            expect = expect[:, :, ::-1, :]
        np.testing.assert_array_equal(layer.kernel.numpy(), expect, err_msg=name)
        np.testing.assert_array_equal(layer.bias.numpy(), b, err_msg=name)


def images(n=2, size=SIZE, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def np_conv3x3_relu(x, k, b):
    """'same' 3×3 cross-correlation + bias + ReLU in numpy (NHWC, kernel [3,3,in,out])."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros((x.shape[0], h, w, k.shape[-1]), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,co->nhwo", xp[:, dy:dy + h, dx:dx + w], k[dy, dx])
    return np.maximum(out + b, 0)


def test_full_size_architecture_matches_parkhi_2015():
    m = VGGFace()  # not built: shapes only via a symbolic build would be slow; check the layer plan
    assert [n for n, _ in m.layer_sequence() if n in LAYER_NAMES] == list(LAYER_NAMES)
    widths = [m.named_layers()[n].filters for n in CONV_NAMES]
    assert widths == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert (m.fc6.units, m.fc7.units, m.fc8.units) == (4096, 4096, 2622)
    # parameter count of VGG-Face at 224 px (VGG-16 with a 2622-way fc8): 145,002,878, counted on the built
    # layers. Built at 32 px (fc6 then sees 1×1×512 instead of 7×7×512, so 0.18 GB instead of 0.58 GB of
    # weights); the 48 missing 512×4096 blocks of fc6's kernel are the only part added by hand.
    small = VGGFace(input_size=32)
    small.build_weights()
    assert tuple(small.fc6.kernel.shape) == (512, 4096) and tuple(small.fc8.kernel.shape) == (4096, 2622)
    convs = sum(small.named_layers()[n].count_params() for n in CONV_NAMES)
    assert [tuple(small.named_layers()[n].kernel.shape[:2]) for n in CONV_NAMES] == [(3, 3)] * len(CONV_NAMES)
    assert small.count_params() + (224 // 32) ** 2 * 512 * 4096 - 512 * 4096 == 145_002_878
    assert convs == 14_714_688  # the 13 convolutions of VGG-16
    del small


def test_preprocess_is_vgg_face_mean_subtraction_at_input_size():
    m = VGGFace(WIDTH, CLASSES, SIZE)
    x = np.full((1, 16, 16, 3), -1.0, np.float32)
    x[..., 0] = 1.0
    p = m.preprocess(x).numpy()
    assert p.shape == (1, SIZE, SIZE, 3)
    np.testing.assert_allclose(p[0, 5, 5], [255 - 129.1863, -104.7624, -93.5940], rtol=1e-5)
    assert m.preprocess(x, size=16).shape == (1, 16, 16, 3)


def test_mat_import_and_numpy_reference(tmp_path):
    m = tiny()
    w = random_weights(m)
    write_mat(tmp_path / "vgg_face.mat", w)
    load_vgg_face_mat(m, tmp_path / "vgg_face.mat")
    assert_loaded(m, w)
    x = images()
    # conv1_1 against numpy on the preprocessed input
    (got,) = m.features(x, ["conv1_1"])
    ref = np_conv3x3_relu(m.preprocess(x).numpy().astype(np.float64), *w["conv1_1"])
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-3)
    # fc6: MatConvNet's [h, w, in, out] filter applied to pool5, i.e. Σ_{h,w,c} pool5[h,w,c]·F[h,w,c,o]
    pool5, fc6 = m.run(m.preprocess(x), ["pool5", "fc6"])
    f, b = w["fc6"]
    ref6 = np.maximum(np.einsum("nhwc,hwco->no", pool5.numpy().astype(np.float64), f) + b, 0)
    np.testing.assert_allclose(fc6.numpy(), ref6, rtol=1e-4, atol=1e-4)


def test_mat_import_old_layout(tmp_path):
    m = tiny()
    w = random_weights(m, seed=2)
    write_mat(tmp_path / "old.mat", w, old_layout=True)
    load_vgg_face_mat(m, tmp_path / "old.mat", layers=list(CONV_NAMES))
    assert_loaded(m, {n: w[n] for n in CONV_NAMES})


def test_mat_import_errors_name_file_and_layer(tmp_path):
    wide = tiny(width_multiplier=1 / 8)
    w = random_weights(tiny())
    write_mat(tmp_path / "v.mat", w)
    with pytest.raises(ModelError, match=r"v\.mat.*conv1_1.*shape"):
        load_vgg_face_mat(wide, tmp_path / "v.mat")
    with pytest.raises(ModelError, match="not found"):
        load_vgg_face_mat(tiny(), tmp_path / "missing.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ModelError, match="junk.mat"):
        load_vgg_face_mat(tiny(), tmp_path / "junk.mat")


@pytest.mark.parametrize("top_level", [False, True])
def test_keras2_h5_import(tmp_path, top_level):
    m = tiny()
    w = random_weights(m, seed=3)
    path = tmp_path / "vggface.h5"
    write_keras2_h5(path, w, top_level=top_level)
    load_vgg_face_h5(m, path)
    assert_loaded(m, w)
    load_vgg_face_h5(m, path, input_order="bgr")  # Caffe-converted files take BGR: conv1_1 inputs flipped
    assert_loaded(m, w, flip_first=True)


def test_h5_missing_layer_error(tmp_path):
    m = tiny()
    path = tmp_path / "partial.h5"
    write_keras2_h5(path, random_weights(m), skip=("conv4_2",))
    with pytest.raises(ModelError, match=r"partial\.h5.*conv4_2"):
        load_vgg_face_h5(m, path)


def test_load_identity_network_from_mat_infers_architecture(tmp_path):
    ref = tiny()
    w = random_weights(ref, seed=4)
    write_mat(tmp_path / "vgg_face.mat", w)
    load_vgg_face_mat(ref, tmp_path / "vgg_face.mat")
    ident = load_identity_network(tmp_path / "vgg_face.mat", input_size=96)
    assert isinstance(ident, IdentityFeatures)
    assert "VGG-Face (Parkhi 2015)" in ident.description and "vgg_face.mat" in ident.description
    assert ident.vgg.input_size == SIZE and ident.vgg.num_classes == CLASSES
    assert not ident.trainable_variables
    feats = ident(images(2, size=48))
    assert [tuple(f.shape) for f in feats] == [(2, 96, 96, 4), (2, 48, 48, 8), (2, 24, 24, 16), (2, 12, 12, 32),
                                              (2, 6, 6, 32)]
    emb = ident.embed(images(3)).numpy()
    assert emb.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    x = images(2)
    np.testing.assert_allclose(ident.vgg(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)


def test_load_identity_network_from_keras_files(tmp_path):
    ref = tiny(num_classes=3)
    ref.save_weights(str(tmp_path / "mine.weights.h5"))  # Keras 3 layout, RGB
    ident = load_identity_network(tmp_path / "mine.weights.h5", input_size=SIZE, layers=["conv2_2", "conv5_2"])
    x = images(2)
    got = ident(x)
    want = ref.features(x, ["conv2_2", "conv5_2"])
    for g, r in zip(got, want):
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-5, atol=1e-5)
    # a Keras 2 (rcmalli) file is taken as BGR input
    w = random_weights(tiny(), seed=5)
    write_keras2_h5(tmp_path / "rcmalli.h5", w)
    ident2 = load_identity_network(tmp_path / "rcmalli.h5", input_size=SIZE)
    assert "BGR" in ident2.description
    np.testing.assert_array_equal(ident2.vgg.conv1_1.kernel.numpy(), w["conv1_1"][0][:, :, ::-1, :])
    with pytest.raises(ModelError, match="unknown identity network format"):
        (tmp_path / "x.txt").write_text("x")
        load_identity_network(tmp_path / "x.txt")


def test_identity_features_round_trip_config():
    ident = IdentityFeatures(tiny(), ["conv1_2", "conv3_2"], input_size=32, description="d")
    again = IdentityFeatures.from_config(ident.get_config())
    assert again.get_config() == ident.get_config()
    assert VGGFace.from_config(ident.vgg.get_config()).get_config() == ident.vgg.get_config()
