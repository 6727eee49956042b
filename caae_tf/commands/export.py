"""``caae-tf export caae|cgan``: write a SavedModel of a trained editor or interpolating generator."""

from __future__ import annotations

HELP = "export a trained CAAE editor or cGAN generator as a TensorFlow SavedModel"
DESCRIPTION = (
    "caae: serving_default(images uint8 [N,S,S,3], valence_arousal float32 [N,2]) -> {edited: uint8}, plus "
    "encode (-> z) and float variants. cgan: serving_default(z, emotion_weights [N,6]) -> {images: uint8} and "
    "interpolate(z, emotion int32 [N], alpha float32 [N]). Loadable with tf.saved_model.load alone."
)


def add_arguments(p) -> None:
    p.add_argument("model", choices=["caae", "cgan"], help="model kind of the run dir")
    p.add_argument("--run-dir", required=True, help="training run dir (latest checkpoint is exported)")
    p.add_argument("--out", required=True, help="output SavedModel dir")


def run(args) -> int:
    if args.model == "caae":
        from caae_tf.export.caae import export_caae as export
    else:
        from caae_tf.export.cgan import export_cgan as export
    out = export(args.run_dir, args.out)
    print(f"SavedModel written to {out}")
    return 0
