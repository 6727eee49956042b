"""Networks: the CAAE of paper 000 (``caae``), VGG-Face identity features (``vgg_face``), the cGAN of
paper 001 (``cgan``) and the valence/arousal regressors (``regressors``). Both GANs subclass ``base.GAN``
(optimizers, logging) and build from ``layers`` (kernel initialiser, BatchNorm, label tiling).

Attributes are imported lazily so that ``import caae_tf.models`` does not pull in TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Encoder": "caae", "Generator": "caae", "ImageDiscriminator": "caae", "LatentDiscriminator": "caae",
    "CAAE": "caae", "CGAN": "cgan", "GAN": "base", "TileConcat": "layers",
    "VGGFace": "vgg_face", "IdentityFeatures": "vgg_face", "load_vgg_face_mat": "vgg_face",
    "load_vgg_face_h5": "vgg_face", "load_identity_network": "vgg_face",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"caae_tf.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'caae_tf.models' has no attribute {name!r}")
