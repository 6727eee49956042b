"""Edit-time machinery of the CAAE's edit mode (beyond the paper; ``CAAEConfig`` edit-time keys).

* :func:`source_va`: the input's own label ŷ by analysis-by-synthesis (``edit_source_grid``,
  ``edit_source_levels``), used by the change mask (``edit_change_tau``) and pivotal tuning;
* :func:`pivotal_weights` / :func:`tuned_edit`: pivotal tuning (Roich et al. 2022, PTI;
  ``edit_tune_steps``, ``edit_tune_lr``, ``edit_tune_code_lr``, ``edit_tune_source_lr``) — a copy of G's
  weights (and optionally the input's code z and source label ŷ) fitted to one input, run with
  ``Layer.stateless_call`` inside ``tf.while_loop`` so that it also runs inside an exported SavedModel.

Each function takes the :class:`caae_tf.models.caae.CAAE` as its first argument; the model's methods of the
same names delegate here.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def pivotal_weights(model, x1, z1, features1, y1) -> tuple[list, tf.Tensor, tf.Tensor]:
    """(G's trainable weights as tensors, code z [1, Z], ŷ [1, 2]) after ``edit_tune_steps`` Adam steps on
    mean |m·(G(z, ŷ) − x)| for one image x1 [1, S, S, 3] (pivotal tuning, ``CAAEConfig.edit_tune_steps``).
    z starts at E(x) and moves only with ``edit_tune_code_lr`` > 0, ŷ starts at ``y1`` and moves only with
    ``edit_tune_source_lr`` > 0 (each at its own Adam rate; ŷ kept in [-1, 1]²). G's variables are untouched
    (``stateless_call``)."""
    c = model.config
    G, m = model.G, model.edit_region_mask()
    kept = x1 * (1.0 - m)
    frozen = list(G.non_trainable_variables)
    b1, b2 = 0.9, 0.999
    # the tuned tensors and their Adam rates: G's weights, and z / ŷ where their rates are > 0
    params = {"weights": [tf.identity(v.value) for v in G.trainable_variables]}
    rates = {"weights": [c.edit_tune_lr] * len(params["weights"])}
    for key, start, lr in (("z", z1, c.edit_tune_code_lr), ("y", y1, c.edit_tune_source_lr)):
        if lr > 0:
            params[key], rates[key] = tf.cast(start, tf.float32), lr

    def step(t, params, m1, m2):
        with tf.GradientTape() as tape:
            tape.watch(params)
            inputs = (params.get("z", z1), params.get("y", y1), features1, kept)
            drawn = G.stateless_call(params["weights"], frozen, inputs, training=False)[0]
            loss = tf.reduce_mean(tf.abs((tf.cast(drawn, tf.float32) - x1) * m))
        grads = tape.gradient(loss, params)
        t = t + 1.0
        m1 = tf.nest.map_structure(lambda a, g: b1 * a + (1.0 - b1) * g, m1, grads)
        m2 = tf.nest.map_structure(lambda a, g: b2 * a + (1.0 - b2) * tf.square(g), m2, grads)
        scale = tf.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        params = tf.nest.map_structure(lambda w, a, v, lr: w - lr * scale * a / (tf.sqrt(v) + 1e-8),
                                       params, m1, m2, rates)
        if "y" in params:
            params["y"] = tf.clip_by_value(params["y"], -1.0, 1.0)
        return t, params, m1, m2

    zeros = tf.nest.map_structure(tf.zeros_like, params)
    _, params, _, _ = tf.while_loop(lambda t, *_: t < float(c.edit_tune_steps), step,
                                    (tf.constant(0.0), params, zeros, zeros))
    return params["weights"], params.get("z", z1), params.get("y", y1)


def tuned_edit(model, x, y, z, features, y_src, need_source: bool = True) -> tuple[tf.Tensor, tf.Tensor | None]:
    """(G'(E(x), y), G'(E(x), ŷ)) drawn by :meth:`CAAE.generate` with G' = G tuned on each distinct image of
    the batch (:func:`pivotal_weights`; identical images share one tuning, found by an exact integer
    fingerprint of their bits). The second drawing (for the change mask) is None unless ``need_source``."""
    n = tf.shape(x)[0]
    bits = tf.cast(tf.reshape(tf.bitcast(x, tf.int32), [n, -1]), tf.int64)
    mix = np.random.default_rng(0).integers(1, 2**20, int(np.prod(x.shape[1:])), dtype=np.int64)
    keys = tf.reduce_sum(bits * tf.constant(mix), axis=1)
    unique, index = tf.unique(keys)
    n_drawings = 2 if need_source else 1

    def one(u, *drawings):
        members = tf.where(tf.equal(index, u))[:, 0]
        first = members[:1]
        f_first = [tf.gather(f, first) for f in features]
        weights, z_tuned, y_tuned = pivotal_weights(model, tf.gather(x, first), tf.gather(z, first), f_first,
                                                    tf.gather(y_src, first))
        f_m = [tf.gather(f, members) for f in features]
        z_m, x_m = tf.tile(z_tuned, [tf.size(members), 1]), tf.gather(x, members)
        at = members[:, None]
        member_labels = [tf.gather(y, members)]
        if need_source:  # the tuned ŷ (edit_tune_source_lr) or the searched one, for every copy of the image
            member_labels.append(tf.tile(y_tuned, [tf.size(members), 1]))
        return (u + 1, *(tf.tensor_scatter_nd_update(
            acc, at, model.generate(z_m, label, f_m, x_m, training=False, g_weights=weights))
            for acc, label in zip(drawings, member_labels)))

    out = tf.while_loop(lambda u, *_: u < tf.shape(unique)[0], one,
                        (tf.constant(0, tf.int32), *(tf.zeros_like(x) for _ in range(n_drawings))))
    return out[1], (out[2] if need_source else None)


def source_va(model, x, z=None, features=None) -> tf.Tensor:
    """ŷ [N, 2]: the label under which G redraws x's editing region best (mean |m·(G(E(x), y) − x)|),
    by analysis-by-synthesis on a coarse-to-fine lattice (``edit_source_grid``, ``edit_source_levels``;
    one G pass per candidate for the whole batch)."""
    c = model.config
    x = tf.cast(x, tf.float32)
    if z is None:
        z, features = model.encode_features(x, training=False)
    m = model.edit_region_mask()
    n = tf.shape(x)[0]

    def search(centre, offsets: np.ndarray):
        """The best of ``centre + offsets`` (clipped to [-1, 1]²) per image."""
        offsets_t = tf.constant(offsets, tf.float32)

        def err(j):
            y = tf.clip_by_value(centre + offsets_t[j], -1.0, 1.0)
            g = model.generate(z, y, features, x, training=False)
            return tf.reduce_mean(tf.abs((g - x) * m), axis=[1, 2, 3])

        errors = tf.map_fn(err, tf.range(len(offsets)), fn_output_signature=tf.float32)  # [K, N]
        return tf.clip_by_value(centre + tf.gather(offsets_t, tf.argmin(errors, axis=0)), -1.0, 1.0)

    def lattice(values: np.ndarray) -> np.ndarray:  # every (v, a) pair of ``values`` → [K, 2]
        return np.stack(np.meshgrid(values, values, indexing="ij"), -1).reshape(-1, 2)

    first = np.linspace(-1.0, 1.0, c.edit_source_grid, dtype=np.float32)
    y = search(tf.zeros([n, 2]), lattice(first))
    step = float(first[1] - first[0])
    for _ in range(c.edit_source_levels - 1):
        step /= 4.0
        y = search(y, lattice(np.arange(-2, 3, dtype=np.float32) * step))  # 5×5 at a quarter step
    return y
