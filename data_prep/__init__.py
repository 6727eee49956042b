"""Dataset preparation: synthetic affect faces, AffectNet/CelebA/folder loaders, face alignment.

Modules here turn raw material into the generic labelled CSV (``path,identity,valence,arousal,emotion``)
or TFRecord shards that :mod:`caae_tf.data` reads. They never import the training code.
"""
