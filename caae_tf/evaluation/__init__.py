"""Evaluation: the metrics of paper 000 §IV-A and the papers' experiments.

* :mod:`caae_tf.evaluation.metrics` — RMSE, SAGR, CCC (pure numpy).
* :mod:`caae_tf.evaluation.table4` — paper 000 Table IV (edit to 49 labels, regress VA) + identity preservation.
* :mod:`caae_tf.evaluation.heatmaps` — paper 000 Fig. 2 difference heatmaps.
* :mod:`caae_tf.evaluation.curves` — paper 001 Fig. 6 interpolation curves, monotonicity, Fig. 4-style
  recognition check.
* :mod:`caae_tf.evaluation.identity` — identity-preservation distances on embeddings.
* :mod:`caae_tf.evaluation.inputs` — image loading for the experiments.
* :mod:`caae_tf.evaluation.selection` — picking a cGAN checkpoint with a validator trained on its own training set.

The experiment functions take duck-typed models (``editor.edit(images, va)``, ``generator.generate(z,
weights)``, ``regressor.predict_va(images)``, ``identity.embed(images)``) so they can be tested with
small fakes; the command layer (``caae_tf/commands/experiment.py``) loads the real ones.
"""

from caae_tf.evaluation.metrics import ccc, rmse, sagr, va_metrics

__all__ = ["ccc", "rmse", "sagr", "va_metrics"]
