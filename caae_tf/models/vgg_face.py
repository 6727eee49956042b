"""VGG-Face (Parkhi, Vedaldi & Zisserman, "Deep Face Recognition", BMVC 2015) and identity features.

Paper 000 computes its identity-preserving loss L_iden (Eq. 2) on the activations of conv1_2, conv2_2,
conv3_2, conv4_2 and conv5_2 of the pre-trained VGG-Face model, as ExprGAN does.

Architecture (VGG-16 layout, Parkhi et al. Table 3): 13 convolutions 3×3 stride 1 'same' + ReLU in five
blocks (64, 64 | 128, 128 | 256×3 | 512×3 | 512×3) with 2×2 max-pooling after each block, then fc6 4096
(a 7×7 "convolution" over pool5 at 224 px, i.e. a dense layer on the flattened 7×7×512 map) + ReLU +
dropout 0.5, fc7 4096 + ReLU + dropout 0.5, fc8 2622 (one logit per identity of the VGG-Face data set).
Layer names are exactly conv1_1 … conv5_3, fc6, fc7, fc8. The activation "at conv1_2" is the output of the
conv layer *after* its ReLU (MatConvNet's ``relu1_2``); ``conv1_2_pre_relu`` (any conv name +
:data:`PRE_RELU_SUFFIX`) is the same layer *before* its ReLU (MatConvNet's ``conv1_2``), which is what the
authors' released code of paper 000 feeds into L_iden (its ``vgg_face.py``, inherited from ExprGAN, stores
``net['conv1_2']`` before the ReLU). Post-ReLU is our default; set the CAAE's ``identity_layers`` to the
``_pre_relu`` names for the authors' choice.

``width_multiplier`` scales every conv width and (unless ``fc_units`` is given) the fc6/fc7 width, for
CPU-sized identity networks trained with ``caae-tf train-identity``; 1.0 is the original.

Preprocessing (:meth:`VGGFace.preprocess`) is the original one: RGB in 0–255 at ``input_size`` (bilinear
``tf.image.resize``) minus the VGG-Face mean image colour (R, G, B) = (129.1863, 104.7624, 93.5940).

Weights: :func:`load_vgg_face_mat` reads the official MatConvNet ``vgg_face.mat`` (SimpleNN ``net.layers``
cell array; both the ``weights = {filters, biases}`` layout and the older separate ``filters``/``biases``
fields; also DagNN files with ``net.params``), :func:`load_vgg_face_h5` reads Keras HDF5 files (Keras 2
layouts such as rcmalli/keras-vggface ``model_weights/<layer>/<layer>/kernel:0``, and Keras 3
``.weights.h5``), and :func:`load_identity_network` builds a frozen :class:`IdentityFeatures` from any of
these or from a ``caae-tf train-identity`` run directory. No weights are downloaded.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from caae_tf.errors import ModelError

#: (block, number of convs, width at multiplier 1)
VGG_BLOCKS: tuple[tuple[int, int, int], ...] = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
CONV_NAMES: tuple[str, ...] = tuple(f"conv{b}_{i + 1}" for b, n, _ in VGG_BLOCKS for i in range(n))
FC_NAMES: tuple[str, ...] = ("fc6", "fc7", "fc8")
LAYER_NAMES: tuple[str, ...] = CONV_NAMES + FC_NAMES
#: The VGG-Face training-set mean colour (R, G, B) from the MatConvNet model's ``normalization.averageImage``.
VGG_FACE_MEAN_RGB: tuple[float, float, float] = (129.1863, 104.7624, 93.5940)
#: Layers used by the identity-preserving loss of paper 000 (Eq. 2).
DEFAULT_IDENTITY_LAYERS: tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
#: Suffix of a conv layer name that asks for its activation before the ReLU (``conv1_2_pre_relu``).
PRE_RELU_SUFFIX = "_pre_relu"
#: ``caae-tf train-identity`` run dir: architecture/results file; the weights are in ``checkpoints/`` (the
#: training loop's layout), or in :data:`RUN_WEIGHTS` in run dirs written before that loop
RUN_META = "identity.json"
RUN_WEIGHTS = "identity.weights.h5"


def _scaled(width: int, multiplier: float) -> int:
    return max(1, int(round(width * multiplier)))


class VGGFace(keras.Model):
    """VGG-Face (Parkhi et al. 2015). ``call(images in [-1,1]) -> fc8 logits`` (float32).

    ``include_top=False`` drops fc6–fc8 (the conv stack works at any resolution; the fc layers need
    ``input_size``). Layers are attributes named like the layers (``model.conv1_1``), so a Keras 3
    ``save_weights`` file has keys ``conv1_1/vars/0`` etc.
    """

    def __init__(self, width_multiplier: float = 1.0, num_classes: int = 2622, input_size: int = 224,
                 fc_units: int | None = None, include_top: bool = True, dropout: float = 0.5,
                 name: str = "vgg_face", **kwargs):
        super().__init__(name=name, **kwargs)
        self.width_multiplier = float(width_multiplier)
        self.num_classes = int(num_classes)
        self.input_size = int(input_size)
        self.fc_units = int(fc_units) if fc_units else _scaled(4096, self.width_multiplier)
        self.include_top = bool(include_top)
        self.dropout_rate = float(dropout)
        self.conv_names = list(CONV_NAMES)
        for block, n, width in VGG_BLOCKS:
            for i in range(n):
                lname = f"conv{block}_{i + 1}"
                # the ReLU is applied in run() so that the pre-ReLU map is available (``*_pre_relu`` names)
                setattr(self, lname, keras.layers.Conv2D(_scaled(width, self.width_multiplier), 3, padding="same",
                                                         name=lname))
            setattr(self, f"pool{block}", keras.layers.MaxPooling2D(2, 2, name=f"pool{block}"))
        if self.include_top:
            self.flatten = keras.layers.Flatten(name="flatten")
            self.fc6 = keras.layers.Dense(self.fc_units, activation="relu", name="fc6")
            self.drop6 = keras.layers.Dropout(self.dropout_rate, name="drop6")
            self.fc7 = keras.layers.Dense(self.fc_units, activation="relu", name="fc7")
            self.drop7 = keras.layers.Dropout(self.dropout_rate, name="drop7")
            self.fc8 = keras.layers.Dense(self.num_classes, dtype="float32", name="fc8")

    # ------------------------------------------------------------------ preprocessing and forward
    def preprocess(self, images, size: int | None = None) -> tf.Tensor:
        """Images float in [-1, 1] [N,H,W,3] → RGB 0–255 resized to ``size`` (default ``input_size``) minus
        the VGG-Face mean colour."""
        size = int(size or self.input_size)
        x = (tf.cast(images, tf.float32) + 1.0) * 127.5
        if x.shape[1] != size or x.shape[2] != size:
            x = tf.image.resize(x, (size, size), method="bilinear")
        return x - tf.constant(VGG_FACE_MEAN_RGB, tf.float32)

    def layer_sequence(self) -> list[tuple[str, keras.layers.Layer]]:
        """(name, layer) in forward order, including pools/flatten/dropout."""
        seq = []
        for block, n, _ in VGG_BLOCKS:
            for i in range(n):
                lname = f"conv{block}_{i + 1}"
                seq.append((lname, getattr(self, lname)))
            seq.append((f"pool{block}", getattr(self, f"pool{block}")))
        if self.include_top:
            seq += [("flatten", self.flatten), ("fc6", self.fc6), ("drop6", self.drop6), ("fc7", self.fc7),
                    ("drop7", self.drop7), ("fc8", self.fc8)]
        return seq

    def run(self, x, outputs: Sequence[str], training=None) -> list[tf.Tensor]:
        """Run preprocessed input ``x`` up to the deepest of ``outputs`` and return those activations.

        Conv names give the map after the ReLU; ``<conv name>_pre_relu`` the same map before it."""
        wanted = list(outputs)
        available = [n for n, _ in self.layer_sequence()]

        def base(n: str) -> str:
            if n.endswith(PRE_RELU_SUFFIX) and n[: -len(PRE_RELU_SUFFIX)] in CONV_NAMES:
                return n[: -len(PRE_RELU_SUFFIX)]
            return n

        missing = [n for n in wanted if base(n) not in available]
        if missing:
            raise ModelError(f"VGGFace: unknown layer(s) {missing}; available: {', '.join(available)} "
                             f"(conv layers also as <name>{PRE_RELU_SUFFIX})")
        last = max(available.index(base(n)) for n in wanted)
        found = {}
        h = x
        for lname, layer in self.layer_sequence()[: last + 1]:
            h = layer(h, training=training) if lname.startswith("drop") else layer(h)
            if lname in CONV_NAMES:
                if lname + PRE_RELU_SUFFIX in wanted:
                    found[lname + PRE_RELU_SUFFIX] = h
                h = tf.nn.relu(h)
            if lname in wanted:
                found[lname] = h
        return [found[n] for n in wanted]

    def features(self, images, layers: Sequence[str] = DEFAULT_IDENTITY_LAYERS, size: int | None = None,
                 training=None) -> list[tf.Tensor]:
        """Activations at ``layers`` (after the ReLU; ``*_pre_relu`` names before it) for images in [-1, 1]."""
        return self.run(self.preprocess(images, size), layers, training=training)

    def call(self, images, training=None):
        if not self.include_top:
            return self.run(self.preprocess(images), [self.conv_names[-1]], training=training)[0]
        return self.run(self.preprocess(images), ["fc8"], training=training)[0]

    def build_weights(self) -> None:
        """Create all variables (one forward pass on a 1-image batch at ``input_size``)."""
        if not self.built:
            self(tf.zeros([1, self.input_size, self.input_size, 3]), training=False)

    def named_layers(self) -> dict[str, keras.layers.Layer]:
        """Weighted layers by name: conv1_1 … conv5_3 (and fc6, fc7, fc8 with the top)."""
        return {n: lay for n, lay in self.layer_sequence() if n in LAYER_NAMES}

    def get_config(self) -> dict[str, Any]:
        return {"width_multiplier": self.width_multiplier, "num_classes": self.num_classes,
                "input_size": self.input_size, "fc_units": self.fc_units, "include_top": self.include_top,
                "dropout": self.dropout_rate, "name": self.name}


class IdentityFeatures(keras.Model):
    """Frozen identity network: ``call(images in [-1,1]) -> [φ_l(x) for l in layers]`` (Eq. 2 of paper 000).

    ``input_size`` is the resolution the images are resized to for the features (224 for VGG-Face; smaller
    is cheaper); :meth:`embed` always uses the network's own ``vgg.input_size`` (its fc layers need it).
    ``description`` names the weights (written to the CAAE run's provenance).
    """

    def __init__(self, vgg: VGGFace, layers: Sequence[str] = DEFAULT_IDENTITY_LAYERS, input_size: int | None = None,
                 description: str = "", name: str = "identity_features", **kwargs):
        super().__init__(name=name, **kwargs)
        self.vgg = vgg
        self.feature_layers = list(layers)
        self.input_size = int(input_size or vgg.input_size)
        self.description = description
        self.vgg.trainable = False
        self.trainable = False

    def call(self, images, training=None):
        return self.vgg.features(images, self.feature_layers, size=self.input_size, training=False)

    def embed(self, images) -> tf.Tensor:
        """L2-normalised fc7 embedding (the penultimate layer; Parkhi et al.'s face descriptor) [N, fc_units];
        without the fc layers, the global-average-pooled conv5_3 map."""
        if self.vgg.include_top:
            (h,) = self.vgg.run(self.vgg.preprocess(images), ["fc7"], training=False)
        else:
            (h,) = self.vgg.run(self.vgg.preprocess(images, self.input_size), ["conv5_3"], training=False)
            h = tf.reduce_mean(h, axis=[1, 2])
        return tf.math.l2_normalize(tf.cast(h, tf.float32), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"vgg": self.vgg.get_config(), "layers": self.feature_layers, "input_size": self.input_size,
                "description": self.description, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        vgg = VGGFace(**config.pop("vgg"))
        return cls(vgg, **config)


# ------------------------------------------------------------------------------------ weight import

def _assign(model: VGGFace, name: str, kernel: np.ndarray, bias: np.ndarray, path: str) -> None:
    layer = model.named_layers().get(name)
    if layer is None:
        raise ModelError(f"{path}: model has no layer {name!r}")
    k_var, b_var = layer.kernel, layer.bias
    kernel = np.asarray(kernel, np.float32)
    bias = np.asarray(bias, np.float32).reshape(-1)
    if kernel.size != int(np.prod(k_var.shape)) or bias.size != int(np.prod(b_var.shape)):
        raise ModelError(
            f"{path}: layer {name!r} has weights of shape {list(kernel.shape)}/{list(bias.shape)} but the model "
            f"expects {list(k_var.shape)}/{list(b_var.shape)} (width_multiplier/input_size/num_classes mismatch?)"
        )
    # C-order reshape keeps MatConvNet's [h, w, in, out] order, which is also the order in which Keras'
    # Flatten lays out an NHWC map, so fc6's 7×7×512 filter becomes the Dense kernel row h·7·512 + w·512 + c.
    k_var.assign(kernel.reshape(tuple(k_var.shape)))
    b_var.assign(bias.reshape(tuple(b_var.shape)))


def _mat_field(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None) if name in getattr(obj, "_fieldnames", []) else None


def read_vgg_face_mat(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a MatConvNet VGG-Face file → ``{layer name: (filters [h,w,in,out] or squeezed, biases)}``."""
    import scipy.io

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: VGG-Face .mat file not found")
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # scipy raises many types for corrupt/v7.3 files
        raise ModelError(f"{path}: cannot read as a MatConvNet .mat file ({type(exc).__name__}: {exc})") from None
    net = mat.get("net")
    if net is None:
        # Some copies store the SimpleNN fields at the top level.
        if "layers" in mat:
            net = mat
        else:
            raise ModelError(f"{path}: no 'net' struct (expected the MatConvNet vgg_face.mat layout)")
    layers = _mat_field(net, "layers")
    if layers is None:
        raise ModelError(f"{path}: 'net' has no 'layers' field")
    layers = np.atleast_1d(layers)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    params = _mat_field(net, "params")
    param_values = {}
    if params is not None:  # DagNN: net.params(k).name / .value, net.layers(i).params = {names}
        for p in np.atleast_1d(params):
            param_values[str(_mat_field(p, "name"))] = _mat_field(p, "value")
    for layer in layers:
        name = _mat_field(layer, "name")
        if name is None:
            continue
        name = str(name)
        if name not in LAYER_NAMES:
            continue
        weights = _mat_field(layer, "weights")
        if weights is not None and np.size(weights) >= 2:
            filters, biases = weights[0], weights[1]
        elif _mat_field(layer, "filters") is not None:
            filters, biases = _mat_field(layer, "filters"), _mat_field(layer, "biases")
        elif param_values and _mat_field(layer, "params") is not None:
            names = [str(n) for n in np.atleast_1d(_mat_field(layer, "params"))]
            try:
                filters, biases = param_values[names[0]], param_values[names[1]]
            except (KeyError, IndexError):
                raise ModelError(f"{path}: layer {name!r} refers to missing params {names}") from None
        else:
            raise ModelError(f"{path}: layer {name!r} has no weights/filters fields")
        if biases is None:
            raise ModelError(f"{path}: layer {name!r} has no biases")
        out[name] = (np.asarray(filters, np.float32), np.asarray(biases, np.float32))
    return out


def load_vgg_face_mat(model: VGGFace, path: str | os.PathLike, layers: Sequence[str] | None = None) -> VGGFace:
    """Load the official MatConvNet ``vgg_face.mat`` (or a file in its layout) into a built ``model``.

    ``layers`` defaults to every weighted layer of the model (conv1_1 … conv5_3, plus fc6–fc8 with the top).
    MatConvNet filters are [h, w, in, out] cross-correlation kernels on RGB input, i.e. exactly Keras'
    Conv2D layout; fc layers are stored as convolutions ([7,7,512,4096], [1,1,4096,4096], [1,1,4096,2622])
    and are reshaped to dense kernels in NHWC-flatten order.
    """
    path = os.fspath(path)
    model.build_weights()
    weights = read_vgg_face_mat(path)
    for name in layers or list(model.named_layers()):
        if name not in weights:
            raise ModelError(f"{path}: layer {name!r} not found in the file (has: {', '.join(weights) or 'none'})")
        _assign(model, name, *weights[name], path)
    return model


def read_vgg_face_h5(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read conv/fc kernels and biases by layer name from a Keras 2 (``[model_weights/]<l>/<l>/kernel:0``)
    or Keras 3 (``<l>/vars/0``, ``layers/<l>/vars/0``, ``…/vgg/<l>/vars/0``) HDF5 file."""
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: HDF5 weights file not found")
    found: dict[str, dict[str, np.ndarray]] = {}

    def visit(key: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        parts = key.split("/")
        leaf = parts[-1]
        layer = None
        kind = None
        if leaf in ("kernel:0", "kernel", "bias:0", "bias"):  # Keras 2
            kind = "kernel" if leaf.startswith("kernel") else "bias"
            layer = next((p for p in reversed(parts[:-1]) if p in LAYER_NAMES), None)
        elif len(parts) >= 3 and parts[-2] == "vars" and parts[-3] in LAYER_NAMES:  # Keras 3
            layer = parts[-3]
            kind = {"0": "kernel", "1": "bias"}.get(leaf)
        if layer and kind and kind not in found.setdefault(layer, {}):
            found[layer][kind] = np.asarray(obj[()], np.float32)

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read as HDF5 ({exc})") from None
    out = {}
    for layer, d in found.items():
        if "kernel" not in d or "bias" not in d:
            raise ModelError(f"{path}: layer {layer!r} lacks a kernel or bias")
        out[layer] = (d["kernel"], d["bias"])
    return out


def load_vgg_face_h5(model: VGGFace, path: str | os.PathLike, layers: Sequence[str] | None = None,
                     input_order: str = "rgb") -> VGGFace:
    """Load VGG-Face weights from a Keras HDF5 file (see :func:`read_vgg_face_h5` for the layouts).

    ``input_order="bgr"`` flips conv1_1's input channels: use it for weights converted from Caffe such as
    rcmalli/keras-vggface's ``rcmalli_vggface_tf_vgg16.h5``, whose preprocessing feeds BGR — the model here
    always takes RGB. :func:`load_identity_network` uses "bgr" for Keras 2 (``kernel:0``) files.
    """
    if input_order not in ("rgb", "bgr"):
        raise ValueError(f"input_order must be 'rgb' or 'bgr', got {input_order!r}")
    path = os.fspath(path)
    model.build_weights()
    weights = read_vgg_face_h5(path)
    for name in layers or list(model.named_layers()):
        if name not in weights:
            raise ModelError(f"{path}: layer {name!r} not found in the file (has: {', '.join(weights) or 'none'})")
        kernel, bias = weights[name]
        if name == "conv1_1" and input_order == "bgr":
            kernel = kernel[:, :, ::-1, :]
        _assign(model, name, kernel, bias, path)
    return model


def _h5_is_keras2(path: str) -> bool:
    import h5py

    hit = []
    with h5py.File(path, "r") as fh:
        fh.visit(lambda k: hit.append(k) if k.endswith(("kernel:0", "bias:0")) else None)
    return bool(hit)


def _infer_architecture(weights: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> dict[str, Any]:
    """width_multiplier, fc_units, num_classes and the native input size from stored weight shapes."""
    if "conv1_1" not in weights:
        raise ModelError(f"{path}: layer 'conv1_1' not found; not a VGG-Face weights file")
    width = weights["conv1_1"][1].size / 64.0
    arch: dict[str, Any] = {"width_multiplier": width, "include_top": False, "num_classes": 1, "input_size": 224}
    if all(n in weights for n in FC_NAMES):
        c5 = weights["conv5_3"][1].size if "conv5_3" in weights else _scaled(512, width)
        fc_units = weights["fc6"][1].size
        cells = weights["fc6"][0].size / (c5 * fc_units)
        side = int(round(np.sqrt(cells)))
        if side * side == cells and side >= 1:
            arch.update(include_top=True, fc_units=fc_units, num_classes=weights["fc8"][1].size,
                        input_size=32 * side)
    return arch


def load_identity_network(path: str | os.PathLike, input_size: int = 224,
                          layers: Sequence[str] = DEFAULT_IDENTITY_LAYERS) -> IdentityFeatures:
    """A frozen :class:`IdentityFeatures` from ``path``:

    * ``*.mat`` — the MatConvNet VGG-Face model (Parkhi et al. 2015);
    * ``*.h5`` / ``*.weights.h5`` — Keras HDF5 VGG-Face weights (Keras 2 files are taken as BGR-input
      Caffe conversions, see :func:`load_vgg_face_h5`); the width and class count are read from the file;
    * a ``caae-tf train-identity`` run directory (``identity.json`` + ``checkpoints/``, or the
      ``identity.weights.h5`` of an older run dir).

    ``input_size`` is the resolution at which the features are computed (images are resized to it).
    """
    path = os.fspath(path)
    if not path:
        raise ModelError("identity network path is empty; set identity_network=PATH or identity_weight=0")
    if os.path.isdir(path):
        from caae_tf.serving import CKPT_DIR, latest_checkpoint, restore_weights

        meta_path = os.path.join(path, RUN_META)
        weights_path = os.path.join(path, RUN_WEIGHTS)
        ckpt = latest_checkpoint(path)
        if not os.path.isfile(meta_path) or not (ckpt or os.path.isfile(weights_path)):
            raise ModelError(f"{path}: not a `caae-tf train-identity` run dir (needs {RUN_META} and a checkpoint "
                             f"in {CKPT_DIR}/, or the {RUN_WEIGHTS} of an older run dir)")
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        vgg = VGGFace(meta["width_multiplier"], meta["num_classes"], meta["image_size"], fc_units=meta["fc_units"])
        vgg.build_weights()
        if ckpt:
            restore_weights(vgg, ckpt, f"the identity network of {meta_path}")
        else:
            try:
                vgg.load_weights(weights_path)
            except Exception as exc:
                raise ModelError(f"{weights_path}: cannot load identity weights ({exc})") from None
        desc = (f"VGG-style identity classifier trained by caae-tf train-identity on {meta.get('data', '?')}, "
                f"width {meta['width_multiplier']:g}, {meta['image_size']} px ({path})")
        return IdentityFeatures(vgg, layers, input_size, description=desc)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: identity network not found (a .mat, .h5 or train-identity run dir)")
    lower = path.lower()
    if lower.endswith(".mat"):
        weights = read_vgg_face_mat(path)
        kind, order = "MatConvNet", "rgb"
    elif lower.endswith((".h5", ".hdf5", ".keras")):
        weights = read_vgg_face_h5(path)
        order = "bgr" if _h5_is_keras2(path) else "rgb"
        kind = f"Keras HDF5, {order.upper()} input"
    else:
        raise ModelError(f"{path}: unknown identity network format (expected .mat, .h5 or a run dir)")
    arch = _infer_architecture(weights, path)
    vgg = VGGFace(**arch)
    vgg.build_weights()
    names = list(vgg.named_layers())
    for name in names:
        if name not in weights:
            raise ModelError(f"{path}: layer {name!r} not found in the file")
        kernel, bias = weights[name]
        if name == "conv1_1" and order == "bgr":
            kernel = kernel[:, :, ::-1, :]
        _assign(vgg, name, kernel, bias, path)
    width = "" if arch["width_multiplier"] == 1 else f", width {arch['width_multiplier']:g}"
    desc = f"VGG-Face (Parkhi 2015) from {path} ({kind}{width})"
    return IdentityFeatures(vgg, layers, input_size, description=desc)
