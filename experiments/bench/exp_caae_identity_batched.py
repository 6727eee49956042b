"""Local experiment: CAAE paper bf16 step time — baseline vs identity batched in one call vs no identity.

    python experiments/bench/exp_caae_identity_batched.py base|batched|noid
"""
import dataclasses
import sys
import time

from caae_tf.tf_env import tf as _tf

tf = _tf()
import keras

from caae_tf.precision import set_policy

set_policy("mixed_bfloat16")
from caae_tf import bench
from caae_tf import losses as L
from caae_tf.config import CAAEConfig
from caae_tf.models.caae import CAAE
from caae_tf.serving import to_float_dict
from caae_tf.step_fn import make_train_fn


class BatchedIdentityCAAE(CAAE):
    """Same maths; φ(x[:16]) and φ(x_gen[:16]) in ONE 32-image call inside the tape (real half stop_gradient)."""
    def train_step(self, batch):
        c = self.config
        x = tf.cast(batch["image"], tf.float32)
        y = tf.cast(batch["va"], tf.float32)
        n = c.identity_images
        z_prior = self.sample_prior(tf.shape(x)[0])
        with tf.GradientTape(persistent=True) as tape:
            z = self.E(x, training=True)
            x_gen = self.G((z, y), training=True)
            prior_logits = self.D_z(z_prior, training=True)
            z_logits = self.D_z(z, training=True)
            real_logits = self.D_img((x, y), training=True)
            fake_logits = self.D_img((x_gen, y), training=True)
            loss_rec = L.reconstruction_loss(x, x_gen)
            feats = self.identity_net(tf.concat([x[:n], x_gen[:n]], 0), training=False)
            fr = [tf.stop_gradient(f[:n]) for f in feats]
            fg = [f[n:] for f in feats]
            loss_iden = L.identity_loss(fr, fg)
            loss_z = L.encoder_adversarial_loss(z_logits)
            loss_img = L.generator_adversarial_loss(fake_logits)
            loss_eg = L.total_eg_loss(loss_rec, loss_iden, loss_z, loss_img, c.lambda_rec, c.identity_weight,
                                      c.lambda_z, c.lambda_img)
            d_z_loss = L.latent_discriminator_loss(prior_logits, z_logits)
            d_img_loss = L.image_discriminator_loss(real_logits, fake_logits)
        eg_vars = self.eg_variables
        g1 = tape.gradient(loss_eg, eg_vars)
        g2 = tape.gradient(d_img_loss, self.D_img.trainable_variables)
        g3 = tape.gradient(d_z_loss, self.D_z.trainable_variables)
        del tape
        self.d_z_optimizer.apply(g3, self.D_z.trainable_variables)
        self.d_img_optimizer.apply(g2, self.D_img.trainable_variables)
        self.eg_optimizer.apply(g1, eg_vars)
        return {"loss_eg_total": loss_eg, "loss_iden": loss_iden}


def run(model, cfg, steps=3):
    model.build_optimizers()
    b = bench.synthetic_batch(cfg)
    model.build_all(b)
    fn = make_train_fn(model)
    to_float_dict(fn(b))
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        losses = to_float_dict(fn(b))
        ts.append(time.perf_counter() - t)
    return ts, losses


which = sys.argv[1]
cfg = CAAEConfig()
keras.utils.set_random_seed(0)
if which == "base":
    m = CAAE(cfg, identity_net=bench.make_identity_net(cfg))
elif which == "batched":
    m = BatchedIdentityCAAE(cfg, identity_net=bench.make_identity_net(cfg))
else:
    cfg = dataclasses.replace(cfg, identity_weight=0.0)
    m = CAAE(cfg)
ts, losses = run(m, cfg)
print(which, [round(t, 2) for t in ts], "median", sorted(ts)[1], losses, flush=True)
