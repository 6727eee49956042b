"""The main job on the embedded default data: synthetic faces → identity net → CAAE → edits → SavedModel.

``caae-tf demo`` (the README's first command) runs, on any machine and without licensed data:

1. ``synth``: a training set of synthetic affect faces (continuous (v, a)) and held-out *other* identities;
2. ``train-identity`` only when the preset's identity_weight > 0 (the demo preset has none: its edit mode
   copies everything outside the learned editing region);
3. ``train caae`` with the demo preset (``caae_tf/presets/caae_demo.yaml``: 64 px, the beyond-the-paper
   edit mode; ``--preset paper`` runs the paper's method at the same budget instead);
4. edits of held-out identities to the paper's 7×7 label grid, compared with the renderer's own drawing of
   each identity at each label (:mod:`caae_tf.evaluation.synthetic_truth`: MAE by region beside the
   do-nothing editor, and the analysis-by-synthesis oracle's RMSE/SAGR/CCC);
5. edits of a few real CelebA faces from ``../shared/data/celeba_aligned_220`` when present (the model has
   only seen synthetic faces: this shows the pipeline on real photos, not photo-realistic results);
6. ``export caae`` → SavedModel, reloaded and checked against the in-process editor.

Everything lands under ``--out`` and the paths are printed at the end.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from caae_tf import presets as _presets

#: the source checkout this module runs from, or None when installed (nothing may depend on it then)
REPO_ROOT = _presets.checkout_root()
DEMO_PRESET = _presets.path("caae_demo")
IDENTITY_PRESET = _presets.path("identity_demo")
HELDOUT_FIRST_IDENTITY = 100_000


PRESETS = {"edit": DEMO_PRESET, "paper": _presets.path("caae_demo_paper")}
CELEBA_DEFAULT = os.path.join(os.pardir, "shared", "data", "celeba_aligned_220")


def resolve_preset(preset: str | None) -> str:
    """``edit`` (default: the demo preset with the beyond-the-paper edit mode), ``paper`` (the paper's method
    at the same budget), another packaged preset name or a path to a CAAE config file (packaged presets:
    :mod:`caae_tf.presets`, so an installed package finds them)."""
    return PRESETS.get(preset or "edit") or _presets.resolve(preset)


def find_celeba_dir(explicit: str | None = None) -> str | None:
    """``--celeba-dir``, ``$CAAE_CELEBA_DIR``, or ``../shared/data/celeba_aligned_220`` relative to the current
    directory or — when running from a source checkout — to the checkout."""
    candidates = [explicit, os.environ.get("CAAE_CELEBA_DIR"), os.path.abspath(CELEBA_DEFAULT)]
    if REPO_ROOT:
        candidates.append(os.path.normpath(os.path.join(REPO_ROOT, CELEBA_DEFAULT)))
    for cand in candidates:
        if cand and os.path.isdir(cand):
            return cand
    return None


class _Clock:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.times: dict[str, float] = {}
        self._last = self.t0

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.times[name] = round(now - self._last, 1)
        self._last = now
        return self.times[name]

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.t0, 1)


def run_demo(
    out_dir: str = "runs/demo",
    *,
    identities: int = 1000,
    per_identity: int = 4,
    heldout_identities: int = 6,
    steps: int | None = None,
    identity_steps: int | None = None,
    overrides: list[str] | None = None,
    celeba_dir: str | None = None,
    seed: int = 0,
    progress: bool = True,
    preset: str | None = None,
) -> dict:
    """Run the demo (module docstring); returns the summary written to ``OUT/summary.json``."""
    from caae_tf.config import IdentityConfig, apply_overrides, load_config
    from caae_tf.edit import Editor
    from caae_tf.evaluation.synthetic_truth import make_cases, run_synthetic_truth
    from caae_tf.export.caae import export_caae
    from caae_tf.identity_train import train_identity
    from caae_tf.images import list_images, read_image, unit_to_uint8, write_image
    from caae_tf.labels import grid_labels
    from caae_tf.train import train_command
    from data_prep.synthetic import generate_dataset

    clock = _Clock()
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    preset_path = resolve_preset(preset)
    caae_cfg = load_config(preset_path)
    caae_cfg = apply_overrides(caae_cfg, [f"seed={seed}"] + list(overrides or []))
    if steps is not None:
        caae_cfg = apply_overrides(caae_cfg, [f"steps={steps}"])
    size = caae_cfg.image_size

    # 1. data --------------------------------------------------------------------------------------
    train_dir = os.path.join(out_dir, "data", "train")
    print(f"[1/6] synthetic faces: {identities} identities x {per_identity} at {size}px -> {train_dir}")
    generate_dataset(train_dir, identities, per_identity, size=size, seed=seed, progress=progress)
    clock.lap("synth")

    # 2. identity network ------------------------------------------------------------------------
    identity_dir = os.path.join(out_dir, "identity")
    identity_summary = None
    if caae_cfg.identity_weight > 0:
        id_cfg = load_config(IDENTITY_PRESET, IdentityConfig)
        id_cfg = apply_overrides(id_cfg, [f"seed={seed}", f"image_size={caae_cfg.identity_input_size}"])
        if identity_steps is not None:
            id_cfg = apply_overrides(id_cfg, [f"steps={identity_steps}"])
        print(f"[2/6] identity network (VGG-Face architecture, width {id_cfg.width_multiplier}) -> {identity_dir}")
        # a rerun into the same OUT continues the run dir, like the CAAE below
        id_resume = os.path.exists(os.path.join(identity_dir, "checkpoints", "checkpoint"))
        identity_summary = train_identity(train_dir, identity_dir, id_cfg, verbose=1 if progress else 0,
                                          resume=id_resume)
        caae_cfg = apply_overrides(caae_cfg, [f"identity_network={identity_dir}"])
    else:
        print("[2/6] identity network: skipped (identity_weight = 0)")
    clock.lap("identity")

    # 3. CAAE --------------------------------------------------------------------------------------
    caae_dir = os.path.join(out_dir, "caae")
    cfg_file = os.path.join(out_dir, "caae_demo_resolved.yaml")
    from caae_tf.config import save_config

    save_config(caae_cfg, cfg_file)
    print(f"[3/6] CAAE ({caae_cfg.steps} steps, batch {caae_cfg.batch_size}, {size}px) -> {caae_dir}")
    resume = os.path.exists(os.path.join(caae_dir, "checkpoints", "checkpoint"))
    fit = train_command("caae", train_dir, caae_dir, config_file=cfg_file, resume=resume, progress=progress)
    clock.lap("train_caae")

    # 4. held-out edits scored against ground truth --------------------------------------------------
    print(f"[4/6] editing {heldout_identities} held-out identities to the 7x7 grid, judged by the renderer")
    editor = Editor.load(caae_dir)
    edits_dir = os.path.join(out_dir, "edits")
    os.makedirs(edits_dir, exist_ok=True)
    cases = make_cases(heldout_identities, seed=seed, size=size)
    truth = run_synthetic_truth(editor, os.path.join(out_dir, "synthetic_truth"), cases=cases)
    for k, case in enumerate(cases[:3]):
        write_image(os.path.join(edits_dir, f"heldout_{k}_grid7.png"), editor.edit_grid(case.x, 7))
    if caae_cfg.edit_region:
        from caae_tf.train import load_model

        region = load_model(caae_dir)[0].edit_region_mask().numpy()[0, ..., 0]
        write_image(os.path.join(edits_dir, "edit_region.png"),
                    np.repeat(unit_to_uint8(region)[..., None], 3, axis=-1))
        truth["edit_region_mean"] = float(region.mean())
    x = cases[0].x
    labels = grid_labels(7)
    clock.lap("heldout_edits")
    # 5. real faces ------------------------------------------------------------------------------------
    celeba = find_celeba_dir(celeba_dir)
    celeba_out = []
    if celeba:
        print(f"[5/6] editing 3 real faces from {celeba}")
        for path in list_images(celeba)[:3]:
            grid = editor.edit_grid(editor.prepare(read_image(path)), 7)
            target = os.path.join(edits_dir, f"celeba_{os.path.splitext(os.path.basename(path))[0]}_grid7.png")
            write_image(target, grid)
            celeba_out.append(target)
    else:
        print("[5/6] CelebA crops not found (set CAAE_CELEBA_DIR); skipped real-face edits")
    clock.lap("celeba_edits")

    # 6. export ------------------------------------------------------------------------------------------
    saved = os.path.join(out_dir, "saved_model_caae")
    print(f"[6/6] exporting the editor SavedModel -> {saved}")
    export_caae(caae_dir, saved)
    reloaded = Editor.load(saved)
    probe = np.repeat(x[None], 2, 0)
    diff = float(np.abs(reloaded.edit(probe, labels[:2]) - editor.edit(probe, labels[:2])).max())
    clock.lap("export")

    summary = {
        "out_dir": out_dir,
        "train_data": train_dir,
        "identity_run": identity_dir if identity_summary is not None else None,
        "caae_run": caae_dir,
        "saved_model": saved,
        "edits": sorted(os.path.join(edits_dir, f) for f in os.listdir(edits_dir)),
        "celeba_edits": celeba_out,
        "caae_steps": fit.step,
        "caae_last_losses": fit.last_losses,
        "synthetic_truth": truth,
        "heldout_edit_scores": truth["oracle"],
        "label_ignoring_baseline": truth["oracle_do_nothing"],
        "preset": preset_path,
        "saved_model_max_abs_diff": diff,
        "seconds": dict(clock.times, total=clock.total),
        "identity_heldout_accuracy": (identity_summary or {}).get("heldout_accuracy"),
    }
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, default=float)
    _print_summary(summary)
    return summary


def _print_summary(s: dict) -> None:
    from caae_tf.evaluation.synthetic_truth import format_summary

    print("\n== caae-tf demo: done in {:.0f} s ==".format(s["seconds"]["total"]))
    print("held-out identities edited to the 49 grid labels, compared with the renderer's ground truth "
          "(MAE on the 0..1 scale; the oracle reads (v, a) off each edit by analysis-by-synthesis):")
    print(format_summary(s["synthetic_truth"]))
    print(f"SavedModel matches the run dir within {s['saved_model_max_abs_diff']:.2e}")
    print("outputs:")
    for key in ("train_data", "identity_run", "caae_run", "saved_model"):
        if s[key]:
            print(f"  {key:12s} {s[key]}")
    for path in s["edits"]:
        print(f"  edit grid    {path}")
    print(f"  summary      {os.path.join(s['out_dir'], 'summary.json')}")
    print(f"  TensorBoard: tensorboard --logdir {s['caae_run']}/logs")
