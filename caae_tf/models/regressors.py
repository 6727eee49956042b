"""Valence/arousal regressors used to evaluate the generative models.

* :class:`Table2CNN` — paper 000 Table II: a VGG-like CNN on 96×96×3 faces with one output; the paper
  trains one network for valence and one for arousal (SGD, lr 1e-3, momentum 0.9, mean absolute error).
  :class:`VARegressorPair` holds the two networks and outputs ``{"valence": [N,1], "arousal": [N,1]}``.
  Training the pair with the *sum* of the two MAE losses gives each network exactly its own gradient
  (the parameter sets are disjoint), so it is the same as training them separately.
* :class:`MobileNetV2MultiTask` — paper 001 §4.3: ``keras.applications.MobileNetV2`` (``weights=None``,
  ``include_top=False``) + global average pooling + two heads: VA (Dense 2, tanh) and the eight AffectNet
  classes (Dense 8, softmax over :data:`caae_tf.labels.AFFECTNET_EMOTIONS`). Adam(1e-3; β1 0.9, β2 0.999,
  the Adam defaults, as the paper names no others). After training
  only the VA head is used for the evaluation (paper 001); the class head serves the Fig. 4-style check.

Choices the papers leave open (documented here):

* Table II convolutions use ``padding="same"`` (VGG style; the paper states 3×3 kernels with stride 1
  only) and ReLU after every conv and FC layer; at 96 px the last pooling leaves 6×6×512.
* "Both of our classifier networks output a value in [−1, 1]": we use tanh on the final unit.
* ``width_multiplier`` scales every width (conv filters and FC units; 1.0 = the paper) for CPU demos; for
  MobileNetV2 it is the ``alpha`` width multiplier.
* Inputs are images in [−1, 1] (the library convention). That is exactly the range
  ``keras.applications.mobilenet_v2.preprocess_input`` produces, so MobileNetV2 needs no extra scaling;
  the Table II CNN is trained from scratch on the same range.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from caae_tf.labels import AFFECTNET_EMOTIONS

#: Table II, in order: ("conv", filters) / ("pool",) / ("fc", units) — each FC but the last is followed by
#: dropout 0.5.
TABLE2_LAYERS: tuple[tuple, ...] = (
    ("conv", 64), ("pool",), ("conv", 128), ("pool",), ("conv", 256), ("conv", 256), ("pool",),
    ("conv", 512), ("conv", 512), ("pool",), ("fc", 4096), ("fc", 2622), ("fc", 2622),
)


def scaled(n: int, width_multiplier: float) -> int:
    """Width ``n`` scaled by ``width_multiplier`` (at least 1 unit)."""
    return max(1, int(round(n * width_multiplier)))


@keras.saving.register_keras_serializable(package="caae_tf")
class Table2CNN(keras.Model):
    """One Table II classifier network (paper 000): x [N,S,S,3] in [−1,1] → one value in [−1,1] ([N,1])."""

    def __init__(self, width_multiplier: float = 1.0, dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.width_multiplier = float(width_multiplier)
        self.dropout = float(dropout)
        self.blocks = []
        n_conv = n_pool = n_fc = 0
        for spec in TABLE2_LAYERS:
            if spec[0] == "conv":
                n_conv += 1
                self.blocks.append(layers.Conv2D(scaled(spec[1], width_multiplier), 3, strides=1, padding="same",
                                                 activation="relu", name=f"conv{n_conv}"))
            elif spec[0] == "pool":
                n_pool += 1
                self.blocks.append(layers.MaxPooling2D(2, strides=2, name=f"pool{n_pool}"))
            else:
                if n_fc == 0:
                    self.blocks.append(layers.Flatten(name="flatten"))
                n_fc += 1
                self.blocks.append(layers.Dense(scaled(spec[1], width_multiplier), activation="relu", name=f"fc{n_fc}"))
                self.blocks.append(layers.Dropout(dropout, name=f"dropout{n_fc}"))
        self.out = layers.Dense(1, activation="tanh", name="out", dtype="float32")

    def build(self, input_shape):
        """Create every variable without running the network (layer by layer via output shapes)."""
        shape = tuple(input_shape)
        for layer in self.blocks + [self.out]:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def features(self, x, training=False):
        """The last hidden layer's activations (fc3 after ReLU and dropout), [N, 2622·width]: what ``out`` reads."""
        for layer in self.blocks:
            x = layer(x, training=training) if isinstance(layer, layers.Dropout) else layer(x)
        return x

    def call(self, x, training=False):
        return self.out(self.features(x, training=training))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(width_multiplier=self.width_multiplier, dropout=self.dropout)
        return cfg


@keras.saving.register_keras_serializable(package="caae_tf")
class VARegressorPair(keras.Model):
    """The paper's two Table II networks: ``{"valence": V(x), "arousal": A(x)}``, each [N, 1] in [−1, 1]."""

    def __init__(self, width_multiplier: float = 1.0, dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.width_multiplier = float(width_multiplier)
        self.dropout = float(dropout)
        self.valence_net = Table2CNN(width_multiplier, dropout, name="valence_net")
        self.arousal_net = Table2CNN(width_multiplier, dropout, name="arousal_net")

    def call(self, x, training=False):
        return {"valence": self.valence_net(x, training=training), "arousal": self.arousal_net(x, training=training)}

    def features(self, x, training=False):
        """Both networks' last hidden layers, concatenated: [N, 2·2622·width]."""
        return ops.concatenate([self.valence_net.features(x, training=training),
                                self.arousal_net.features(x, training=training)], axis=-1)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(width_multiplier=self.width_multiplier, dropout=self.dropout)
        return cfg


@keras.saving.register_keras_serializable(package="caae_tf")
class MobileNetV2MultiTask(keras.Model):
    """Paper 001's VA assessment model: MobileNetV2 backbone, GAP, VA head (tanh) + 8-class head (softmax).

    ``call`` returns ``{"va": [N, 2] in [−1, 1], "emotion8": [N, 8] probabilities}``.
    """

    def __init__(self, image_size: int = 96, alpha: float = 1.0, num_classes: int = len(AFFECTNET_EMOTIONS),
                 dropout: float = 0.0, bn_momentum: float = 0.999, **kwargs):
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.alpha = float(alpha)
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.bn_momentum = float(bn_momentum)
        self.backbone = keras.applications.MobileNetV2(
            input_shape=(self.image_size, self.image_size, 3), alpha=self.alpha, include_top=False, weights=None,
        )
        # how fast the moving statistics used in inference follow training (Keras's MobileNetV2 builds 0.999)
        for layer in self.backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = self.bn_momentum
        self.pool = layers.GlobalAveragePooling2D(name="gap")
        self.drop = layers.Dropout(self.dropout, name="head_dropout")
        self.va_head = layers.Dense(2, activation="tanh", name="va", dtype="float32")
        self.emotion_head = layers.Dense(self.num_classes, activation="softmax", name="emotion8", dtype="float32")

    def features(self, x, training=False):
        """The pooled backbone features the two heads read (after the head dropout), [N, 1280·alpha]."""
        return self.drop(self.pool(self.backbone(x, training=training)), training=training)

    def call(self, x, training=False):
        h = self.features(x, training=training)
        return {"va": self.va_head(h), "emotion8": self.emotion_head(h)}

    def get_config(self):
        cfg = super().get_config()
        cfg.update(image_size=self.image_size, alpha=self.alpha, num_classes=self.num_classes, dropout=self.dropout,
                   bn_momentum=self.bn_momentum)
        return cfg


@keras.saving.register_keras_serializable(package="caae_tf")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy averaged over the samples whose label is ≥ 0.

    Labels −1 (unknown / not one of the 8 AffectNet classes) contribute nothing; a batch without any known
    label gives 0. Returns per-sample values that *sum* to the masked mean (so ``reduction="sum"``).
    """

    def __init__(self, name: str = "masked_sparse_categorical_crossentropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)

    def call(self, y_true, y_pred):
        from keras import ops

        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        mask = ops.cast(y_true >= 0, y_pred.dtype)
        ce = keras.losses.sparse_categorical_crossentropy(ops.maximum(y_true, 0), y_pred)
        return ce * mask / ops.maximum(ops.sum(mask), 1.0)


def build_regressor(arch: str, image_size: int = 96, width_multiplier: float = 1.0, dropout: float | None = None,
                    bn_momentum: float = 0.999):
    """Build (not compile) the regressor for ``arch`` (``table2`` or ``mobilenetv2``) and create its variables.

    ``bn_momentum``: MobileNetV2's BatchNorm momentum (:class:`MobileNetV2MultiTask`); the Table II CNN has none."""
    import numpy as np

    if arch == "table2":
        model = VARegressorPair(width_multiplier, 0.5 if dropout is None else dropout, name="table2_regressor")
    elif arch == "mobilenetv2":
        model = MobileNetV2MultiTask(image_size, width_multiplier, dropout=0.0 if dropout is None else dropout,
                                     bn_momentum=bn_momentum, name="mobilenetv2_regressor")
    else:
        raise ValueError(f"arch must be table2 or mobilenetv2, got {arch!r}")
    model(np.zeros((1, image_size, image_size, 3), np.float32))
    return model


def compile_regressor(model, arch: str, learning_rate: float = 1e-3, momentum: float = 0.9,
                      va_loss: str = "mse", emotion_weight: float = 1.0, beta_1: float = 0.9,
                      beta_2: float = 0.999) -> None:
    """Compile with the papers' optimisers and losses.

    ``model`` is a regressor (for Keras ``fit``) or the :class:`caae_tf.models.supervised.SupervisedTrainer`
    around one, which is how ``caae-tf train-regressor`` trains it (:mod:`caae_tf.regressor_train`).

    ``table2``: SGD(lr, momentum) and mean absolute error on each of valence and arousal (paper 000);
    ``beta_1``/``beta_2`` are not used. ``mobilenetv2``: Adam(lr, beta_1, beta_2) (paper 001 gives only
    Adam and lr 1e-3, so the defaults are Adam's 0.9 / 0.999); ``va_loss`` (``mse`` default — paper 001
    does not name its VA loss — or ``mae``) on the VA head + ``emotion_weight`` × masked sparse
    categorical cross-entropy on the class head.
    """
    if arch == "table2":
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
            loss={"valence": "mean_absolute_error", "arousal": "mean_absolute_error"},
        )
    else:
        if va_loss not in ("mse", "mae"):
            raise ValueError(f"va_loss must be mse or mae, got {va_loss!r}")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2),
            loss={"va": "mean_squared_error" if va_loss == "mse" else "mean_absolute_error",
                  "emotion8": MaskedSparseCategoricalCrossentropy()},
            loss_weights={"va": 1.0, "emotion8": float(emotion_weight)},
        )
