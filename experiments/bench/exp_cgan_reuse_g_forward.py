"""Local experiment: cGAN train step reusing the D-step G forward for the G update (exact: same z, G unchanged).

    python experiments/bench/exp_cgan_reuse_g_forward.py base|reuse [image_size]
"""
import sys
import time

from caae_tf.tf_env import tf as _tf

tf = _tf()
import keras

from caae_tf.precision import set_policy

set_policy("mixed_bfloat16")
from caae_tf import bench
from caae_tf.config import CGANConfig
from caae_tf.models.cgan import CGAN, _masked_mean
from caae_tf.losses import per_example_bce
from caae_tf.serving import to_float_dict
from caae_tf.step_fn import make_train_fn


class ReuseCGAN(CGAN):
    def train_step(self, batch):
        x = tf.cast(batch["image"], tf.float32)
        e = tf.cast(batch["emotion"], tf.int32)
        v = tf.one_hot(e, self.num_emotions, dtype=tf.float32)
        mask = tf.cast(tf.logical_and(e >= 0, e < self.num_emotions), tf.float32)
        z = self.draw_noise(tf.shape(x)[0])
        with tf.GradientTape() as g_tape:
            fake = self.G((z, v), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.D((x, v), training=True)
            fake_logits = self.D((tf.stop_gradient(fake), v), training=True)
            d_loss = (_masked_mean(per_example_bce(1.0, real_logits), mask, global_batch=True)
                      + _masked_mean(per_example_bce(0.0, fake_logits), mask, global_batch=True))
        d_vars = self.D.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)
        with tf.GradientTape() as tape:
            tape.watch(fake)
            gen_logits = self.D((fake, v), training=True)
            g_loss = _masked_mean(per_example_bce(1.0, gen_logits), mask, global_batch=True)
        dfake = tape.gradient(g_loss, fake)
        g_vars = self.G.trainable_variables
        g_grads = g_tape.gradient(fake, g_vars, output_gradients=dfake)
        self.g_optimizer.apply(g_grads, g_vars)
        return {"g_loss": g_loss, "d_loss": d_loss}


def run(model, cfg, steps=5):
    model.build_optimizers()
    b = bench.synthetic_batch(cfg)
    model.build_all(b)
    fn = make_train_fn(model)
    to_float_dict(fn(b))
    to_float_dict(fn(b))
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        losses = to_float_dict(fn(b))
        ts.append(time.perf_counter() - t)
    return ts, losses


which = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
cfg = CGANConfig(image_size=size)
keras.utils.set_random_seed(0)
m = ReuseCGAN(cfg) if which == "reuse" else CGAN(cfg)
ts, losses = run(m, cfg)
print(which, size, [round(t, 3) for t in ts], "median", sorted(ts)[len(ts) // 2],
      {k: round(float(losses[k]), 4) for k in ("g_loss", "d_loss")}, flush=True)
