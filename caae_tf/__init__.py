"""caae_tf: continuous-emotion face editing and generation in TensorFlow 2 / Keras 3.

Reproduces Lindt et al., "Facial expression editing with continuous emotion labels" (FG 2019; the CAAE
editor) and Mertes et al., "Continuous Emotions: Exploring Label Interpolation in Conditional GANs for
Face Generation" (DeLTA 2021; the label-interpolating cGAN).

Importing this package does not import TensorFlow; modules that need it import it through
:mod:`caae_tf.tf_env`, which keeps TensorFlow's start-up noise out of the CLI's output.
"""

__version__ = "0.1.0"
