"""The training core of both GANs pinned to the papers' equations, so that a broken model fails here.

Every test below was checked against planted faults (gradient ascent in each optimizer, the identity loss
on the wrong images, a wrong prior, dropped or mis-weighted conditioning terms, a generator that ignores
its label); see tests/MUTATIONS.md for the list and which test catches which fault.

How the updates are checked: each network's optimizer is swapped for plain SGD, one ``train_step`` runs,
and the change of every variable must equal ``-lr * dL/dw`` where L is that network's equation (Eq. 3 for
D_z, Eq. 4 for D_img, Eq. 5 for E+G; the cGAN's D and G losses) evaluated *by this file* from the
sub-networks and ``caae_tf.losses`` on a separate tape, at the same parameters and with the same random
draws (the prior / noise generators are replayed from their saved state). The Adam optimizers the models
build are exercised by the loss-goes-down tests.
"""

from __future__ import annotations


import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras

from caae_tf import losses as L
from caae_tf.config import CAAEConfig, CGANConfig
from caae_tf.models.caae import CAAE
from caae_tf.models.cgan import CGAN
from _train_helpers import caae_batch, tiny_caae_config


@pytest.fixture(autouse=True)
def _float32_policy():
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


# ----------------------------------------------------------------------------------------------- helpers

caae_config = tiny_caae_config


class SpyIdentity(keras.Model):
    """A frozen two-layer stand-in for VGG-Face that records the batch size of every call."""

    def __init__(self):
        super().__init__(name="spy_identity")
        self.c1 = keras.layers.Conv2D(3, 3, padding="same", activation="relu")
        self.c2 = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")
        self.batch_sizes: list[int] = []

    def call(self, x, training=None):
        self.batch_sizes.append(int(x.shape[0]))  # static under tf.function too (the test batches are constant)
        a = self.c1(x)
        return [a, self.c2(a)]


def make_caae(cfg: CAAEConfig, b: dict, *, identity: bool = False, seed: int = 0) -> CAAE:
    keras.utils.set_random_seed(seed)
    ident = SpyIdentity() if identity else None
    m = CAAE(cfg, identity_net=ident)
    m.build_all(b)
    m.build_optimizers()
    if ident is not None:
        ident(b["image"][:1])  # build it before it is frozen into the tape
        ident.batch_sizes.clear()
    return m


def snapshot(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def use_sgd(model, names, lr: float) -> None:
    """Replace the named optimizers by plain SGD (update = -lr * gradient, exactly)."""
    for name in names:
        opt = keras.optimizers.SGD(lr, name=f"{name}_sgd")
        setattr(model, name, opt)


def assert_update_is_descent(before, after, grads, lr: float, what: str) -> None:
    """after - before == -lr * grad for every variable (float32 rounding aside)."""
    assert len(before) == len(after) == len(grads), what
    for i, (b0, b1, g) in enumerate(zip(before, after, grads)):
        assert g is not None, f"{what}: variable {i} gets no gradient from its equation"
        expected = -lr * np.asarray(g, np.float64)
        moved = b1.astype(np.float64) - b0
        # float32 rounding: w - lr*g is rounded to the spacing of w (some of G's gradients are below it)
        tol = 1e-3 * np.abs(expected) + 2e-3 * float(np.abs(expected).max()) + 2.0 * np.spacing(np.abs(b0))
        bad = np.abs(moved - expected) > tol
        assert not bad.any(), (f"{what}: variable {i} did not move by -lr * d(loss)/dw at {int(bad.sum())} of "
                               f"{bad.size} entries, e.g. moved {moved[bad][:3]} instead of {expected[bad][:3]}")
    # and the step as a whole points downhill (an ascending optimizer gives a cosine of -1)
    step = np.concatenate([(b1.astype(np.float64) - b0).ravel() for b0, b1 in zip(before, after)])
    down = -np.concatenate([np.asarray(g, np.float64).ravel() for g in grads])
    cos = float(step @ down / (np.linalg.norm(step) * np.linalg.norm(down)))
    assert cos > 0.999, f"{what}: update is not along -gradient (cos = {cos:.4f})"


# -------------------------------------------------------------------------- CAAE reference (paper 000)

def caae_reference(m: CAAE, b: dict, seed_state: np.ndarray):
    """Eq. (1)-(5) (and the lambda_cond terms) evaluated here from the sub-networks, with the prior and
    the random target labels drawn exactly as ``train_step`` draws them (``seed_state`` replayed).

    Returns (terms, grads): the logged values ``train_step`` must report, and the gradient of each network's
    own loss w.r.t. its variables."""
    c = m.config
    m.seed_generator.state.assign(seed_state)
    x = tf.cast(b["image"], tf.float32)
    y = tf.cast(b["va"], tf.float32)
    n = int(x.shape[0])
    k = c.identity_images
    z_prior = keras.random.uniform((n, c.z_dim), minval=-1.0, maxval=1.0, seed=m.seed_generator)
    y_rand = None
    if c.lambda_cond > 0:
        y_rand = keras.random.uniform((n, 2), minval=-1.0, maxval=1.0, seed=m.seed_generator)
    with tf.GradientTape(persistent=True) as tape:
        z = m.E(x, training=True)
        x_gen = m.G((z, y), training=True)
        prior_logits = m.D_z(z_prior, training=True)
        z_logits = m.D_z(z, training=True)
        real_logits = m.D_img((x, y), training=True)
        fake_logits = m.D_img((x_gen, y), training=True)
        t = {
            "loss_rec": tf.reduce_mean(tf.abs(x - x_gen)),  # Eq. 1: L1, mean absolute error
            "loss_z": L.per_example_bce(1.0, z_logits),  # Eq. 3, E's non-saturating side
            "loss_img": L.per_example_bce(1.0, fake_logits),  # Eq. 4, G's non-saturating side
        }
        t = {key: tf.reduce_mean(v) for key, v in t.items()}
        if c.identity_weight > 0:
            real_f = m.identity_net(x[:k], training=False)
            gen_f = m.identity_net(x_gen[:k], training=False)
            # Eq. 2: sum over layers of the mean absolute feature difference, over the first k images only
            t["loss_iden"] = tf.add_n([tf.reduce_mean(tf.abs(a - g)) for a, g in zip(real_f, gen_f)])
        else:
            t["loss_iden"] = tf.zeros([])
        t["loss_eg_total"] = (c.lambda_rec * t["loss_rec"] + c.identity_weight * t["loss_iden"]
                              + c.lambda_z * t["loss_z"] + c.lambda_img * t["loss_img"])  # Eq. 5
        bce = L.per_example_bce
        t["d_z_loss"] = tf.reduce_mean(bce(1.0, prior_logits)) + tf.reduce_mean(bce(0.0, z_logits))  # Eq. 3
        t["d_img_loss"] = tf.reduce_mean(bce(1.0, real_logits)) + tf.reduce_mean(bce(0.0, fake_logits))  # Eq. 4
        if c.lambda_cond > 0:
            x_edit = m.G((z, y_rand), training=True)
            edit_logits = m.D_img((x_edit, y_rand), training=True)
            mismatch_logits = m.D_img((x, y_rand), training=True)
            t["loss_cond"] = tf.reduce_mean(bce(1.0, edit_logits))
            t["loss_eg_total"] += c.lambda_cond * t["loss_cond"]
            t["d_img_loss"] += 0.5 * (tf.reduce_mean(bce(0.0, edit_logits)) + tf.reduce_mean(bce(0.0, mismatch_logits)))
        else:
            t["loss_cond"] = tf.zeros([])
    grads = {
        "eg": tape.gradient(t["loss_eg_total"], m.E.trainable_variables + m.G.trainable_variables),
        "d_img": tape.gradient(t["d_img_loss"], m.D_img.trainable_variables),
        "d_z": tape.gradient(t["d_z_loss"], m.D_z.trainable_variables),
    }
    del tape
    t.update(d_z_real=tf.reduce_mean(tf.sigmoid(prior_logits)), d_z_fake=tf.reduce_mean(tf.sigmoid(z_logits)),
             d_img_real=tf.reduce_mean(tf.sigmoid(real_logits)), d_img_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))
    m.seed_generator.state.assign(seed_state)
    return {key: float(v) for key, v in t.items()}, {key: [g.numpy() if g is not None else None for g in gs]
                                                    for key, gs in grads.items()}


CASES = {  # (config overrides, identity network)
    "paper": (dict(), False),
    "paper+identity": (dict(identity_weight=1.0 / 3.0), True),
    "lambda_cond": (dict(lambda_cond=0.5, identity_weight=1.0 / 3.0), True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_caae_logged_losses_are_the_papers_equations(case):
    """Every logged term equals Eq. (1)-(5) (and the lambda_cond terms) computed independently, exactly."""
    kw, identity = CASES[case]
    cfg = caae_config(**kw)
    b = caae_batch(cfg, 4)
    m = make_caae(cfg, b, identity=identity)
    ref, _ = caae_reference(m, b, m.seed_generator.state.numpy())
    out = {k: float(v) for k, v in m.train_step(b).items()}
    for key, want in ref.items():
        assert out[key] == pytest.approx(want, rel=1e-5, abs=1e-7), f"{case}: {key} = {out[key]}, Eq. says {want}"
    assert (out["loss_cond"] > 0.1) == (cfg.lambda_cond > 0)  # about log 2 at the start when it is on


@pytest.mark.parametrize("case", list(CASES))
def test_caae_every_update_descends_its_own_equation(case):
    """E+G move by -lr * dEq.5/dw, D_img by -lr * dEq.4/dw, D_z by -lr * dEq.3/dw (plain SGD swapped in)."""
    kw, identity = CASES[case]
    cfg = caae_config(**kw)
    b = caae_batch(cfg, 4, seed=1)
    m = make_caae(cfg, b, identity=identity)
    lr = 0.5
    use_sgd(m, ("eg_optimizer", "d_img_optimizer", "d_z_optimizer"), lr)
    nets = {"eg": m.E.trainable_variables + m.G.trainable_variables, "d_img": m.D_img.trainable_variables,
            "d_z": m.D_z.trainable_variables}
    before = {k: snapshot(v) for k, v in nets.items()}
    _, grads = caae_reference(m, b, m.seed_generator.state.numpy())
    m.train_step(b)
    for key, variables in nets.items():
        assert_update_is_descent(before[key], snapshot(variables), grads[key], lr, f"{case}: {key}")


def _bn_batch_stats(net, inputs, y=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mean, variance) over the batch of each BatchNorm layer's input in a training-mode call of D_z
    (``y`` None) or D_img; leaves the moving statistics as they were."""
    saved = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in net.bns]
    stats = []
    h = inputs
    if y is None:
        for fc, bn, act in zip(net.fcs, net.bns, net.acts):
            pre = fc(h)
            stats.append((tf.reduce_mean(pre, 0).numpy(), tf.math.reduce_variance(pre, 0).numpy()))
            h = act(bn(pre, training=True))
    else:
        y_rep = net.repeat_label(y)
        for conv, bn, act, concat in zip(net.convs, net.bns, net.acts, net.concats):
            pre = conv(h)
            stats.append((tf.reduce_mean(pre, [0, 1, 2]).numpy(), tf.math.reduce_variance(pre, [0, 1, 2]).numpy()))
            h = concat([act(bn(pre, training=True)), y_rep])
    for bn, (mean, var) in zip(net.bns, saved):
        bn.moving_mean.assign(mean)
        bn.moving_variance.assign(var)
    return stats


def test_caae_discriminator_bn_statistics_take_both_updates_in_program_order():
    """D_z and D_img run twice per step in training mode (prior then E(x); real then generated pairs): their
    BatchNorm moving statistics take both updates, every step, in that order (momentum 0.9), also under
    tf.function (the driver's mode) — so they are deterministic and a resumed run matches exactly."""
    cfg = caae_config()
    b = caae_batch(cfg, 4, seed=2)
    m = make_caae(cfg, b)
    step = tf.function(m.train_step)
    step(caae_batch(cfg, 4, seed=5))  # moving statistics away from their initial 0 / 1
    x, y = b["image"], b["va"]
    state = m.seed_generator.state.numpy()
    z_prior = m.sample_prior(4)
    m.seed_generator.state.assign(state)
    z = m.E(x, training=True)
    x_gen = m.G((z, y), training=True)
    calls = {"D_z": (m.D_z, [_bn_batch_stats(m.D_z, z_prior), _bn_batch_stats(m.D_z, z)]),
             "D_img": (m.D_img, [_bn_batch_stats(m.D_img, x, y), _bn_batch_stats(m.D_img, x_gen, y)])}
    before = {k: [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in net.bns]
              for k, (net, _) in calls.items()}
    step(b)
    for name, (net, (first, second)) in calls.items():
        for i, bn in enumerate(net.bns):
            for j, what in enumerate(("moving_mean", "moving_variance")):
                old = before[name][i][j].astype(np.float64)
                want = (old * 0.9 + first[i][j] * 0.1) * 0.9 + second[i][j] * 0.1
                swapped = (old * 0.9 + second[i][j] * 0.1) * 0.9 + first[i][j] * 0.1
                got = getattr(bn, what).numpy()
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"{name}/bn{i + 1} {what}")
                if j == 0:  # the test can tell the orders apart
                    assert np.abs(want - swapped).max() > 100 * (1e-5 * np.abs(want).max() + 1e-7), (name, i)


def test_caae_identity_loss_sees_only_the_first_identity_images():
    cfg = caae_config(identity_weight=1.0 / 3.0, identity_images=2)
    b = caae_batch(cfg, 4)
    m = make_caae(cfg, b, identity=True)
    m.train_step(b)
    assert m.identity_net.batch_sizes == [2, 2]  # phi(x[:2]) and phi(G(E(x), y)[:2]), nothing else
    m.identity_net.batch_sizes.clear()
    tf.function(m.train_step)(caae_batch(cfg, 4, seed=1))
    assert m.identity_net.batch_sizes == [2, 2]


def test_caae_prior_is_uniform_on_the_cube_and_seeded():
    """z_prior ~ U[-1, 1]^z_dim (Eq. 3): range, mean, variance, shape of the histogram, and the seed."""
    cfg = caae_config(z_dim=8, seed=3)
    m = CAAE(cfg)
    z = m.sample_prior(4096).numpy()
    assert z.shape == (4096, 8) and z.dtype == np.float32
    assert z.min() >= -1.0 and z.max() <= 1.0
    assert z.min() < -0.99 and z.max() > 0.99  # fills the cube, not a sub-interval
    assert abs(z.mean()) < 0.02 and np.all(np.abs(z.mean(0)) < 0.05)
    assert z.var() == pytest.approx(1.0 / 3.0, abs=0.01)  # the variance of U[-1, 1]
    hist = np.histogram(z, bins=10, range=(-1, 1))[0] / z.size
    np.testing.assert_allclose(hist, 0.1, atol=0.012)  # flat (a normal or a triangle is not)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.06  # independent dimensions
    # seeded: the same seed gives the same draws, the next draw differs, another seed differs
    again = CAAE(caae_config(z_dim=8, seed=3)).sample_prior(4096).numpy()
    np.testing.assert_array_equal(again, z)
    assert not np.array_equal(m.sample_prior(4096).numpy(), z)
    assert not np.array_equal(CAAE(caae_config(z_dim=8, seed=4)).sample_prior(4096).numpy(), z)
    # the generator's state is a model weight, so checkpoints (and --resume) carry it
    assert any(w is m.seed_generator.state for w in m.weights)


def he_init(nets, seed: int = 0) -> None:
    """Re-draw the kernels He-normal: with the papers' N(0, 0.02) these tiny, narrow nets pass almost no
    signal (G's output is ~1e-9), so a few steps could not show learning."""
    rng = np.random.default_rng(seed)
    for net in nets:
        for var in net.trainable_variables:
            if "kernel" in var.path:
                shape = tuple(var.shape)
                if len(shape) == 4 and "deconv" in var.path:  # Conv2DTranspose kernel: [k, k, out, in]
                    fan_in = shape[0] * shape[1] * shape[3]
                else:
                    fan_in = int(np.prod(shape[:-1]))
                var.assign(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))


def valence_coded_batch(n: int = 8, size: int = 32, seed: int = 0) -> dict:
    """Faces whose brightness is their valence (plus texture), arousal random: y is visible in x."""
    rng = np.random.default_rng(seed)
    v = np.linspace(-0.9, 0.9, n).astype(np.float32)
    a = rng.uniform(-1, 1, n).astype(np.float32)
    x = np.clip(0.7 * v[:, None, None, None] + rng.uniform(-0.2, 0.2, (n, size, size, 3)), -1, 1)
    return {"image": tf.constant(x.astype(np.float32)), "va": tf.constant(np.stack([v, a], 1))}


def caae_label_effect(m: CAAE, b: dict) -> float:
    """Mean brightness of G(E(x), (+0.8, a)) minus that of G(E(x), (-0.8, a)) over a fixed batch."""
    va = b["va"].numpy()
    z = m.encode(b["image"])
    hi = m.decode(z, np.stack([np.full(len(va), 0.8, np.float32), va[:, 1]], 1)).numpy()
    lo = m.decode(z, np.stack([np.full(len(va), -0.8, np.float32), va[:, 1]], 1)).numpy()
    return float((hi - lo).mean())


def test_caae_losses_go_down_and_g_learns_the_label_on_a_fixed_batch():
    """40 Adam steps (the optimizers build_optimizers makes) on one batch: L_rec falls, D_img learns to
    separate real from generated pairs, and G(z, y) comes to follow y — which it does not at the start."""
    cfg = caae_config(learning_rate=2e-3, batch_size=8)
    b = valence_coded_batch(8)
    m = make_caae(cfg, b)
    he_init([m.E, m.G])
    before = caae_label_effect(m, b)
    step = tf.function(m.train_step)
    hist = [{k: float(v) for k, v in step(b).items()} for _ in range(40)]
    rec = [h["loss_rec"] for h in hist]
    d_img = [h["d_img_loss"] for h in hist]
    assert rec[-1] < 0.6 * rec[0], rec
    assert np.mean(rec[-5:]) < np.mean(rec[:5]) and all(np.isfinite(rec))
    assert min(d_img[5:25]) < d_img[0] - 0.1, d_img  # D_img's Eq. (4) loss falls from log 4
    after = caae_label_effect(m, b)
    assert abs(before) < 0.02, before  # an untrained G barely reacts to y ...
    assert after > 0.15, (before, after)  # ... a trained one renders the valence the data ties to it


# ---------------------------------------------------------------------------------- cGAN (paper 001)

def cgan_config(**kw) -> CGANConfig:
    base = dict(image_size=16, z_dim=8, g_filters=[16, 8], d_filters=[8, 16], batch_size=6, seed=3,
                mixed_precision="float32")
    base.update(kw)
    cfg = CGANConfig(**base)
    cfg.validate()
    return cfg


def cgan_batch(cfg: CGANConfig, emotions=(0, 1, 2, 3, 4, 5, -1), seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, s = len(emotions), cfg.image_size
    return {"image": tf.constant(rng.uniform(-1, 1, (n, s, s, 3)).astype(np.float32)),
            "emotion": tf.constant(np.asarray(emotions, np.int32)), "va": tf.zeros([n, 2])}


def make_cgan(cfg: CGANConfig, seed: int = 0) -> CGAN:
    keras.utils.set_random_seed(seed)
    m = CGAN(cfg)
    m.build_optimizers()
    m.build_all()
    return m


def cgan_d_reference(m: CGAN, b: dict):
    """Paper 001's D loss (plus the matching-aware term) with the noise train_step will draw; returns
    (d_loss, dD/dw, z, v, mask) and leaves the noise counter where it was."""
    c = m.cfg
    counter = m.noise_step.numpy()
    e = b["emotion"]
    n = int(e.shape[0])
    z = m.draw_noise(n)
    v = tf.one_hot(e, 6)
    mask = tf.cast((e >= 0) & (e < 6), tf.float32)
    wrong = None
    if c.d_mismatch_weight > 0:
        wrong = (e + m.draw_label_shift(n)) % 6
        assert not np.any(wrong.numpy() == e.numpy()), "the mismatch label must be a wrong one"
    m.noise_step.assign(counter)

    def mmean(per_example):
        return tf.reduce_sum(per_example * mask) / tf.reduce_sum(mask)

    w = c.d_mismatch_weight
    with tf.GradientTape() as tape:
        fake = m.G((z, v), training=True)
        real_logits = tf.reshape(m.D((b["image"], v), training=True), [-1])
        fake_logits = tf.reshape(m.D((fake, v), training=True), [-1])
        # -[(1-s) log D + s log(1-D)] on real pairs, -log(1 - D) on generated ones (one-sided smoothing s)
        s_real = 1.0 - c.label_smoothing
        real_term = -(s_real * tf.math.log_sigmoid(real_logits) + (1 - s_real) * tf.math.log_sigmoid(-real_logits))
        d_loss = mmean(real_term) + (1 - w) * mmean(-tf.math.log_sigmoid(-fake_logits))
        if w > 0:
            mis_logits = tf.reshape(m.D((b["image"], tf.one_hot(wrong, 6)), training=True), [-1])
            d_loss += w * mmean(-tf.math.log_sigmoid(-mis_logits))
    grads = [g.numpy() for g in tape.gradient(d_loss, m.D.trainable_variables)]
    return float(d_loss), grads, z, v, mmean


def cgan_g_reference(m: CGAN, z, v, mmean):
    """G's non-saturating loss -log D(G(z, v), v) through the *current* D, and its gradient."""
    with tf.GradientTape() as tape:
        logits = tf.reshape(m.D((m.G((z, v), training=True), v), training=True), [-1])
        g_loss = mmean(-tf.math.log_sigmoid(logits))
    return float(g_loss), [g.numpy() for g in tape.gradient(g_loss, m.G.trainable_variables)]


CGAN_CASES = {
    "paper": dict(),
    "smoothing": dict(label_smoothing=0.1),
    "matching_aware": dict(d_mismatch_weight=0.5, label_smoothing=0.1),
}


@pytest.mark.parametrize("case", list(CGAN_CASES))
def test_cgan_d_then_g_updates_descend_their_losses(case):
    """D moves by -lr * dL_D/dw; then G by -lr * dL_G/dw taken through the *updated* D (one D update, then
    one G update per step); the logged losses are those equations, over the rows with a valid emotion."""
    cfg = cgan_config(**CGAN_CASES[case])
    b = cgan_batch(cfg)
    m = make_cgan(cfg)
    lr = 0.5
    use_sgd(m, ("d_optimizer", "g_optimizer"), lr)
    g0, d0 = snapshot(m.G.trainable_variables), snapshot(m.D.trainable_variables)
    d_loss, d_grads, z, v, mmean = cgan_d_reference(m, b)
    out = {k: float(val) for k, val in m.train_step(b).items()}
    assert out["d_loss"] == pytest.approx(d_loss, rel=1e-5), (out, d_loss)
    assert_update_is_descent(d0, snapshot(m.D.trainable_variables), d_grads, lr, f"{case}: D")
    g1 = snapshot(m.G.trainable_variables)
    for var, val in zip(m.G.trainable_variables, g0):  # G's loss at G's old weights, through the new D
        var.assign(val)
    g_loss, g_grads = cgan_g_reference(m, z, v, mmean)
    assert out["g_loss"] == pytest.approx(g_loss, rel=1e-5), (out, g_loss)
    assert_update_is_descent(g0, g1, g_grads, lr, f"{case}: G")


def class_coded_batch(n: int = 12, size: int = 16, seed: int = 0) -> dict:
    """Sadness (1) is dark, happiness (5) bright, with texture."""
    rng = np.random.default_rng(seed)
    e = np.array([1, 5] * (n // 2), np.int32)
    level = np.where(e == 5, 0.6, -0.6).astype(np.float32)
    x = np.clip(level[:, None, None, None] + rng.uniform(-0.3, 0.3, (n, size, size, 3)), -1, 1)
    return {"image": tf.constant(x.astype(np.float32)), "emotion": tf.constant(e), "va": tf.zeros([n, 2])}


def cgan_label_effect(m: CGAN) -> float:
    """Mean brightness of G(z, happiness) minus G(z, sadness) over 16 fixed noise vectors (inference mode)."""
    z = tf.random.stateless_normal([16, m.z_dim], seed=[1, 2])
    hi = m.generate(z, tf.one_hot([5] * 16, 6)).numpy()
    lo = m.generate(z, tf.one_hot([1] * 16, 6)).numpy()
    return float((hi - lo).mean())


def test_cgan_d_loss_goes_down_and_g_learns_the_label_on_a_fixed_batch():
    """60 Adam steps on dark 'sadness' and bright 'happiness' images (matching-aware D, so that D checks the
    label from the start): D's loss falls, and G(z, v) comes to follow v, which it does not at the start."""
    cfg = cgan_config(learning_rate=2e-3, batch_size=12, d_mismatch_weight=0.5)
    b = class_coded_batch(12)
    m = make_cgan(cfg)
    before = cgan_label_effect(m)
    step = tf.function(m.train_step)
    hist = [{k: float(v) for k, v in step(b).items()} for _ in range(60)]
    d_loss = [h["d_loss"] for h in hist]
    assert min(d_loss[:15]) < 0.8 * d_loss[0], d_loss
    assert all(np.isfinite(d_loss)) and all(np.isfinite([h["g_loss"] for h in hist]))
    after = cgan_label_effect(m)
    assert abs(before) < 0.01, before
    assert after > 0.3, (before, after)
