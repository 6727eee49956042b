"""``caae-tf study build``: the stimuli of paper 001's user study (§4.2).

Paper 001 showed 36 images: 3 real FACES images and 3 cGAN outputs (one-hot conditioning) per emotion,
the real ones resized to the generator's 256×256. :func:`build_study` does the same for any labelled
source and any of three kinds of generated images:

* ``model`` = a cGAN run dir or SavedModel (``caae-tf export cgan``): G(z, e_emotion) with one-hot labels,
  z ~ N(0, I) drawn from ``seed``;
* ``model`` = a CAAE run dir or SavedModel (``caae-tf export caae``): real input faces (``caae_inputs``,
  default: the real source, never one of the real stimuli, Neutral faces first) edited to each emotion's
  circumplex (valence, arousal) (:func:`caae_tf.labels.circumplex_va`);
* ``generated`` = a labelled source (CSV / folder with labels.csv / class folders) of images made by any
  other generator — the study then judges that generator.

Real (and pre-made generated) images come from any labelled source :func:`caae_tf.data.table.load_table`
reads, or from a FACES folder (file names ``ID_age_gender_emotion_set.jpg``, :mod:`data_prep.faces`).

Every stimulus, real or generated, is centre-cropped, resized to one size (``size``, default: the
generator's) and re-encoded as PNG under a random file name, so neither names nor formats nor sizes tell
real from generated. Only ``manifest.json`` records which is which.

TensorFlow is imported only for ``model`` (lazily, through :mod:`caae_tf.generate` / :mod:`caae_tf.edit`).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from caae_tf import __version__
from caae_tf import labels as L
from caae_tf.study import DB_FILE, IMAGES_DIR, LIKERT_LABELS, MANIFEST_JSON, STUDY_JSON
from caae_tf.study.files import FORMAT, StudyError, new_item_id, sha256_file, write_json_atomic

DEFAULT_TITLE = "How do these faces look?"
DEFAULT_QUESTION = "How much do you agree that this face shows each of the following emotions?"
DEFAULT_DISPLAY_SIZE = 256  # px on screen (the paper's image size)


@dataclass
class Stimulus:
    image: np.ndarray  # uint8 [S, S, 3] at the study size
    source: str  # "real" | "generated"
    emotion: str
    origin: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------- picking

def _faces_table(source: str):
    """A FACES folder (file names ``ID_age_gender_emotion_set.jpg``, no labels.csv) as a table, else None."""
    if not os.path.isdir(source) or os.path.exists(os.path.join(source, "labels.csv")):
        return None
    import pandas as pd

    from data_prep.faces import scan_faces

    rows, _ = scan_faces(source)
    if not rows:
        return None
    return pd.DataFrame({"path": [os.path.abspath(r["path"]) for r in rows],
                         "identity": [int(r["identity"]) for r in rows], "emotion": [r["emotion"] for r in rows]})


def _table(source: str, emotions: Sequence[str], what: str):
    from caae_tf.data.table import load_table

    faces = _faces_table(source)
    if faces is not None:
        return faces[faces["emotion"].isin(list(emotions))].reset_index(drop=True), {}
    df, skips = load_table(source, require=(), keep_bytes=False)
    if "emotion" not in df.columns or not (df["emotion"] != "").any():
        raise StudyError(f"{source}: {what} images need emotion labels (an `emotion` column or class folders)")
    return df[df["emotion"].isin(list(emotions))].reset_index(drop=True), skips


def _pick(df, emotion: str, n: int, rng: np.random.Generator, *, exclude: set[str], where: str,
          what: str) -> list[dict]:
    """``n`` rows of ``emotion`` in random order, one per identity first (identities known), then the rest."""
    rows = df[(df["emotion"] == emotion) & ~df["path"].isin(exclude)]
    if len(rows) < n:
        raise StudyError(f"{where}: needs {n} {what} image(s) labelled {emotion!r}, found {len(rows)}")
    rows = rows.iloc[rng.permutation(len(rows))]
    first, rest, seen = [], [], set()
    for r in rows.to_dict("records"):
        ident = int(r.get("identity", -1))
        if ident >= 0 and ident in seen:
            rest.append(r)
            continue
        if ident >= 0:
            seen.add(ident)
        first.append(r)
    return (first + rest)[:n]


SQUARE_MODES = ("crop", "stretch")


def _read_square(path: str, size: int | None, square: str = "crop") -> np.ndarray:
    """Any image → ``size``×``size`` (default: its shorter side): centre crop (``crop``) or plain resize
    (``stretch``, what ``caae-tf prepare faces`` does by default, i.e. what a FACES cGAN was trained on)."""
    from caae_tf.images import center_crop_resize, read_image

    rgb = read_image(path)
    s = size or min(rgb.shape[:2])
    if square == "stretch" and rgb.shape[0] != rgb.shape[1]:
        import cv2

        interp = cv2.INTER_AREA if min(rgb.shape[:2]) > s else cv2.INTER_CUBIC
        return cv2.resize(rgb, (s, s), interpolation=interp)
    return center_crop_resize(rgb, s)


def select_real(source: str, emotions: Sequence[str], per_emotion: int, seed: int) -> list[dict]:
    """Rows (path, identity, emotion) of ``per_emotion`` random real images per emotion (distinct identities
    where known)."""
    df, _ = _table(source, emotions, "real")
    rng = np.random.default_rng([int(seed), 1])
    out = []
    for e in emotions:
        out += _pick(df, e, per_emotion, rng, exclude=set(), where=source, what="real")
    return out


def generated_from_source(source: str, emotions: Sequence[str], per_emotion: int, seed: int,
                          size: int | None, exclude: set[str] = frozenset(), square: str = "crop") -> list[Stimulus]:
    """Pre-made generated images (any generator) from a labelled source (never one of ``exclude``)."""
    df, _ = _table(source, emotions, "generated")
    rng = np.random.default_rng([int(seed), 2])
    out = []
    for e in emotions:
        for r in _pick(df, e, per_emotion, rng, exclude=set(exclude), where=source, what="generated"):
            img = _read_square(r["path"], size, square)
            size = size or img.shape[0]
            out.append(Stimulus(img, "generated", e, {"kind": "images", "path": r["path"]}))
    return out


def detect_model_kind(path: str) -> str:
    """``cgan`` or ``caae`` for a run dir (config.yaml) or a SavedModel (caae_tf_export.json)."""
    from caae_tf.errors import ModelError
    from caae_tf.serving import CONFIG_FILE, METADATA_FILE, read_export_metadata

    cfg = os.path.join(path, CONFIG_FILE)
    if os.path.isfile(os.path.join(path, METADATA_FILE)):
        kind = read_export_metadata(path).get("model")
    elif os.path.isfile(cfg):
        import yaml

        with open(cfg, encoding="utf-8") as fh:
            kind = (yaml.safe_load(fh) or {}).get("model")
    else:
        raise ModelError(f"{path}: not a caae-tf run dir or SavedModel (no config.yaml or caae_tf_export.json)")
    if kind not in ("cgan", "caae"):
        raise ModelError(f"{path}: holds a {kind!r} model; the study needs a cGAN or a CAAE")
    return kind


def generated_cgan(model: str, emotions: Sequence[str], per_emotion: int, seed: int,
                   size: int | None) -> tuple[list[Stimulus], int]:
    """G(z, one_hot(emotion)) for ``per_emotion`` noise vectors per emotion (paper 001 §4.2)."""
    from caae_tf.generate import CGANSampler
    from caae_tf.images import center_crop_resize, to_uint8

    gen = CGANSampler(model)
    for e in emotions:
        if e not in L.CGAN_EMOTIONS:
            raise StudyError(f"the cGAN has no class {e!r} (classes: {', '.join(L.CGAN_EMOTIONS)})")
    n = per_emotion * len(emotions)
    z = gen.sample_z(n, seed=seed)
    idx = [L.CGAN_EMOTIONS.index(e) for e in emotions for _ in range(per_emotion)]
    weights = L.one_hot(idx)
    images = to_uint8(gen.generate(z, weights))
    size = size or gen.image_size
    out = []
    for k, (img, i) in enumerate(zip(images, idx)):
        out.append(Stimulus(center_crop_resize(img, size), "generated", L.CGAN_EMOTIONS[i], {
            "kind": "cgan", "model": os.path.abspath(model), "z_seed": int(seed), "z_index": k,
            "emotion_weights": weights[k].tolist(), "model_image_size": gen.image_size,
        }))
    return out, size


def generated_caae(model: str, emotions: Sequence[str], per_emotion: int, seed: int, size: int | None,
                   inputs: str, exclude: set[str]) -> tuple[list[Stimulus], int]:
    """Real faces from ``inputs`` (not among ``exclude``) edited by the CAAE to each emotion's circumplex
    (valence, arousal). Neutral-labelled inputs are used first, each input face once if there are enough."""
    from caae_tf.edit import Editor
    from caae_tf.images import center_crop_resize, to_uint8

    editor = Editor.load(model)
    df = _faces_table(inputs)
    if df is None:
        from caae_tf.data.table import load_table

        df, _ = load_table(inputs, keep_bytes=False)
    df = df[~df["path"].isin(exclude)].reset_index(drop=True)
    n = per_emotion * len(emotions)
    if len(df) == 0:
        raise StudyError(f"{inputs}: no input faces left for the CAAE edits (all are real stimuli)")
    rng = np.random.default_rng([int(seed), 3])
    perm = rng.permutation(len(df))
    neutral = [int(i) for i in perm if df.at[int(i), "emotion"] == "neutral"]
    others = [int(i) for i in perm if df.at[int(i), "emotion"] != "neutral"]
    pool = neutral + others
    picks = [pool[k % len(pool)] for k in range(n)]
    faces = np.stack([editor.prepare(_read_square(df.at[i, "path"], None)) for i in picks])
    targets = [e for e in emotions for _ in range(per_emotion)]
    va = np.array([L.circumplex_va(e) for e in targets], np.float32)
    edited = to_uint8(editor.edit(faces, va))
    size = size or editor.image_size
    out = []
    for k, (img, e) in enumerate(zip(edited, targets)):
        out.append(Stimulus(center_crop_resize(img, size), "generated", e, {
            "kind": "caae", "model": os.path.abspath(model), "input": df.at[picks[k], "path"],
            "valence": float(va[k, 0]), "arousal": float(va[k, 1]), "model_image_size": editor.image_size,
        }))
    return out, size


# ----------------------------------------------------------------------------------------- writing

def write_study(out: str, stimuli: Sequence[Stimulus], *, emotions: Sequence[str], build_info: dict,
                title: str = DEFAULT_TITLE, question: str = DEFAULT_QUESTION,
                display_size: int = DEFAULT_DISPLAY_SIZE, force: bool = False) -> dict:
    """Write ``study.json``, ``manifest.json`` and ``images/`` for ``stimuli`` (all the same size).

    Refuses to touch a directory that already holds responses (``responses.sqlite``); any other non-empty
    directory needs ``force``. Returns the manifest.
    """
    from caae_tf.images import write_image

    out = os.path.abspath(out)
    if os.path.exists(os.path.join(out, DB_FILE)):
        raise StudyError(f"{out}: holds responses ({DB_FILE}); build the new study in another directory")
    if os.path.isdir(out) and os.listdir(out):
        if not force:
            raise StudyError(f"{out}: exists and is not empty (use --force to replace the study in it)")
        for name in (STUDY_JSON, MANIFEST_JSON, IMAGES_DIR):
            p = os.path.join(out, name)
            shutil.rmtree(p) if os.path.isdir(p) else (os.remove(p) if os.path.exists(p) else None)
    sizes = {s.image.shape for s in stimuli}
    if len(sizes) != 1:
        raise StudyError(f"stimuli differ in size: {sorted(sizes)}")
    os.makedirs(os.path.join(out, IMAGES_DIR), exist_ok=True)
    study_id = new_item_id(set())
    taken: set[str] = set()
    items = []
    for s in stimuli:
        iid = new_item_id(taken)
        taken.add(iid)
        fname = f"{iid}.png"
        path = os.path.join(out, IMAGES_DIR, fname)
        write_image(path, s.image)
        items.append({"id": iid, "file": fname, "sha256": sha256_file(path), "source": s.source,
                      "emotion": s.emotion, "origin": s.origin})
    size = int(next(iter(sizes))[0])
    settings = {
        "format": FORMAT, "study_id": study_id, "title": title, "question": question,
        "emotions": list(emotions), "likert": list(LIKERT_LABELS), "n_items": len(items),
        "image_size": size, "display_size": int(display_size),
    }
    manifest = {
        "format": FORMAT, "study_id": study_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "caae_tf_version": __version__, "build": build_info, "image_size": size, "items": items,
    }
    write_json_atomic(os.path.join(out, MANIFEST_JSON), manifest)
    write_json_atomic(os.path.join(out, STUDY_JSON), settings)
    return manifest


def build_study(out: str, *, real: str, model: str | None = None, generated: str | None = None,
                per_emotion: int = 3, seed: int = 0, size: int | None = None,
                emotions: Sequence[str] = L.CGAN_EMOTIONS, caae_inputs: str | None = None,
                title: str = DEFAULT_TITLE, question: str = DEFAULT_QUESTION,
                display_size: int = DEFAULT_DISPLAY_SIZE, force: bool = False, square: str = "crop",
                log: Callable[[str], None] = lambda msg: None) -> dict:
    """Build a study directory (module docstring); returns the manifest. ``square`` = how non-square real
    (and pre-made generated) images become square: ``crop`` (centre) or ``stretch``."""
    if square not in SQUARE_MODES:
        raise StudyError(f"square must be one of {SQUARE_MODES}, got {square!r}")
    if (model is None) == (generated is None):
        raise StudyError("give exactly one of model (cGAN/CAAE run dir or SavedModel) or generated (images)")
    if per_emotion < 1:
        raise StudyError(f"per_emotion must be >= 1, got {per_emotion}")
    if size is not None and not 8 <= int(size) <= 2048:
        raise StudyError(f"size must be in 8..2048 px, got {size}")
    emotions = [L.canonical_emotion(e) for e in emotions]
    if len(set(emotions)) != len(emotions) or not emotions:
        raise StudyError(f"emotions must be distinct and non-empty, got {emotions}")
    if os.path.exists(os.path.join(os.path.abspath(out), DB_FILE)):  # fail before any slow work
        raise StudyError(f"{os.path.abspath(out)}: holds responses ({DB_FILE}); build the new study elsewhere")
    real_rows = select_real(real, emotions, per_emotion, seed)
    log(f"picked {len(real_rows)} real images from {real}")
    kind = "images"
    if model is not None:
        kind = detect_model_kind(model)
        log(f"generating {per_emotion * len(emotions)} images with the {kind} at {model}")
        if kind == "cgan":
            fakes, size = generated_cgan(model, emotions, per_emotion, seed, size)
        else:
            fakes, size = generated_caae(model, emotions, per_emotion, seed, size, caae_inputs or real,
                                         {r["path"] for r in real_rows})
    else:
        fakes = generated_from_source(generated, emotions, per_emotion, seed, size,
                                      exclude={r["path"] for r in real_rows}, square=square)
        size = size or fakes[0].image.shape[0]
    reals = [Stimulus(_read_square(r["path"], size, square), "real", r["emotion"],
                      {"kind": "real", "path": r["path"], "identity": int(r["identity"])}) for r in real_rows]
    info = {
        "real": os.path.abspath(real), "model": os.path.abspath(model) if model else None,
        "generated": os.path.abspath(generated) if generated else None, "generator_kind": kind,
        "caae_inputs": os.path.abspath(caae_inputs or real) if kind == "caae" else None,
        "per_emotion": int(per_emotion), "seed": int(seed), "size": int(size), "square": square,
    }
    manifest = write_study(out, reals + fakes, emotions=emotions, build_info=info, title=title,
                           question=question, display_size=display_size, force=force)
    log(f"wrote {len(manifest['items'])} images ({size}x{size} px) to {os.path.abspath(out)}")
    return manifest
