"""Local experiment: Conv2DTranspose vs Conv2D (stride 1) and vs UpSampling2D+Conv2D (stride 2), fwd+bwd,
batch 49, bf16.

    python experiments/bench/exp_deconv_vs_conv.py     (POL=float32 for fp32)
"""
import os
import time

from caae_tf.tf_env import tf as _tf

tf = _tf()
import keras

keras.mixed_precision.set_global_policy(os.environ.get("POL", "mixed_bfloat16"))


def bench(layer, x, n=4):
    layer(x)

    @tf.function
    def step(x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32))
        g = t.gradient(loss, [x] + layer.trainable_variables)
        return tf.add_n([tf.reduce_sum(tf.cast(v, tf.float32)) for v in g])

    step(x).numpy()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        step(x).numpy()
        ts.append(time.perf_counter() - t0)
    return min(ts)


x = tf.random.normal([49, 96, 96, 64])
for name, layer in [("T s1", keras.layers.Conv2DTranspose(32, 5, strides=1, padding="same")),
                    ("C s1", keras.layers.Conv2D(32, 5, strides=1, padding="same"))]:
    print(name, bench(layer, x))
x = tf.random.normal([49, 48, 48, 128])
for name, layer in [("T s2", keras.layers.Conv2DTranspose(64, 5, strides=2, padding="same")),
                    ("upsample+C", keras.Sequential([keras.layers.UpSampling2D(2),
                                                     keras.layers.Conv2D(64, 5, padding="same")]))]:
    print(name, bench(layer, x))
