"""Face detection + alignment benchmark (issue 14): MTCNN + template vs the previous Haar cascades, paste-back
seams, video landmark jitter, and the throughput of ``edit --align`` on full photos.

    python3 experiments/align_benchmark.py [--celeba ../shared/data/celeba_aligned_220] \
        [--out experiments/results/align]

Protocol (seeded, ``--seed 0``)
-------------------------------
Each of the 220 CelebA crops (125×120) is pasted into a canvas 3× its size (375×360) filled with random
smooth colour noise, after a random similarity: scale U(0.5, 1.5), rotation U(-25°, 25°), position
uniform such that the whole rotated crop stays inside the canvas.

* **face found**: a detection whose box contains the true face centre (the crop centre mapped into the
  canvas) — the criterion of the Haar figure quoted in the issue;
* **eye pair** (Haar): the eye cascade found a left/right pair in that box;
* **eyes within 3 %**: the face is aligned with its detected landmarks to the template (``face5``, margin
  0.2, 128 px crop) and the *true* eye centres — the reference eyes of the untransformed crop mapped
  through the paste transform and then the alignment — land within 0.03·128 px of the template's eyes
  (both eyes). Reference eyes: MTCNN's landmarks on the untransformed crop (so the figure measures how
  consistently detection + alignment undo the scale/rotation/translation, not MTCNN's absolute accuracy;
  crops where that reference fails are left out and counted).

The same protocol on 220 faces of ``data_prep.synthetic`` (128 px, no jitter, random valence/arousal)
gives a detector-independent check: their eye centres are known exactly from the renderer's geometry, so
there "eyes within 3 %" compares with the true eyes.

Paste-back seams: each protocol canvas's face is aligned, "edited" with a stand-in for a CAAE output (the
crop blurred, σ = 1.5 px, with a colour cast: ×(1.10, 0.95, 0.90) + 8 levels) and pasted back with the
feathered mask and with the seamless clone. Seam step = mean over colour channels of |mean of the 4-px
band just inside the fully-edited region (m = 1) − mean of the 4-px band just outside the mask (m = 0)|,
minus the same for the original photo (0 = no colour step across the seam); also the mean |difference|
inside (m = 1) to the stand-in edit (how much of the edit itself survives: seamless cloning trades the
edit's colours for the photo's).

Video: a 90-frame clip at 25 fps is made from three stills (30 frames each: a protocol canvas with
Gaussian sensor noise σ = 4), the faces standing still; the landmark jitter is the mean frame-to-frame
displacement of the five landmarks with and without One-Euro smoothing (the true displacement is 0), and
the clip is round-tripped through ``edit_video`` (frame count and fps read back). A second clip moves the
face 2 px/frame to show the smoothing's lag (mean distance of the landmarks to the true moving ones).

Throughput: ``caae_tf.edit.edit_files(align=True)`` over 24 full photos (1280×960, 1-3 CelebA faces each
at 1.5-3× size, random backgrounds, PNG) with an untrained CAAE at the paper architecture (96 px,
``CAAEConfig()``), one warm-up photo first; seconds per stage from its report.

Writes ``OUT/align_benchmark.json``, ``OUT/align_benchmark.md`` and ``OUT/align_examples.png`` (six protocol
canvases with the detected box and landmarks, above their aligned crops with the template's eyes marked).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2

from caae_tf.images import list_images, read_image
from data_prep import align as A
from data_prep.detect import get_detector

CROP = 128


def background(rng, h, w):
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(bg + rng.normal(0, 10, bg.shape), 0, 255).astype(np.uint8)


def place(rng, face, canvas_hw, scale=None, angle=None):
    """Paste ``face`` into a random-background canvas; returns (canvas, 2x3 matrix crop → canvas)."""
    h, w = face.shape[:2]
    H, W = canvas_hw
    s = rng.uniform(0.5, 1.5) if scale is None else scale
    a = rng.uniform(-25, 25) if angle is None else angle
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), a, s)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float) @ M[:, :2].T
    lo, hi = corners.min(0), corners.max(0)
    tx = rng.uniform(-lo[0], W - 1 - hi[0])
    ty = rng.uniform(-lo[1], H - 1 - hi[1])
    M[:, 2] = [tx, ty]
    canvas = background(rng, H, W)
    warped = cv2.warpAffine(face, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), M, (W, H), flags=cv2.INTER_LINEAR) / 255.0
    out = canvas * (1 - mask[..., None]) + warped * mask[..., None]
    return np.round(out).astype(np.uint8), M, s, a


def inside(box, pt):
    x, y, w, h = box
    return x <= pt[0] <= x + w and y <= pt[1] <= y + h


def eye_error(landmarks, true_eyes):
    M = A.alignment_matrix(landmarks, CROP)
    got = A.apply_matrix(M, true_eyes)
    want = A.template_points(CROP)[:2]
    return float(np.linalg.norm(got - want, axis=1).max() / CROP)


def run_detection(files, seed, det_m, det_h, log):
    """``files``: image paths (reference eyes = MTCNN on the untransformed crop) or ``(name, rgb, eyes)``
    tuples with exact eyes."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, f in enumerate(files):
        if isinstance(f, tuple):
            f, face, ref_eyes = f
        else:
            face = read_image(f)
            ref = det_m.detect(face)
            ref_eyes = ref[0].landmarks[:2] if ref else None
        h, w = face.shape[:2]
        canvas, M, s, a = place(rng, face, (3 * h, 3 * w))
        centre = A.apply_matrix(M, [[(w - 1) / 2, (h - 1) / 2]])[0]
        true_eyes = A.apply_matrix(M, ref_eyes) if ref_eyes is not None else None
        row = {"file": os.path.basename(f), "scale": round(s, 3), "angle": round(a, 2),
               "reference": ref_eyes is not None}
        # MTCNN
        t0 = time.perf_counter()
        faces = det_m.detect(canvas)
        row["mtcnn_s"] = time.perf_counter() - t0
        hit = [fc for fc in faces if inside(fc.box, centre)]
        row["mtcnn_found"] = bool(hit)
        row["mtcnn_false"] = len(faces) - len(hit)
        if hit and true_eyes is not None:
            row["mtcnn_eye_err"] = eye_error(hit[0].landmarks, true_eyes)
        # Haar (previous detector): face box + eye cascade; + template alignment of its estimated points
        t0 = time.perf_counter()
        boxes = A.detect_faces(canvas)
        hb = [b for b in boxes if inside(b, centre)]
        row["haar_found"] = bool(hb)
        row["haar_eyes"] = bool(hb) and A.detect_eyes(canvas, hb[0]) is not None
        row["haar_s"] = time.perf_counter() - t0
        if hb and true_eyes is not None:
            hf = [fc for fc in det_h.detect(canvas) if inside(fc.box, centre)]
            if hf:
                row["haar_eye_err"] = eye_error(hf[0].landmarks, true_eyes)
        rows.append(row)
        if (k + 1) % 20 == 0:
            log(f"  {k + 1}/{len(files)}: mtcnn {sum(r['mtcnn_found'] for r in rows)}, "
                f"haar {sum(r['haar_found'] for r in rows)}")
    return rows


def synthetic_faces(n, seed):
    """``n`` synthetic faces (128 px, no jitter) with their exact eye centres (pixel-index coordinates)."""
    from data_prep.synthetic import face_geometry, layout_to_image, render_face, sample_identity

    rng = np.random.default_rng(seed + 10)
    out = []
    for i in range(n):
        f = sample_identity(i, seed)
        v, a = (float(x) for x in rng.uniform(-1, 1, 2))
        img = render_face(f, v, a, size=128, rng_or_seed=i, jitter=False)
        g = face_geometry(f, v, a)
        eyes = layout_to_image([g["eyes"][0]["centre"], g["eyes"][1]["centre"]]) * 128 - 0.5
        out.append((f"synthetic_{i:03d}", img, eyes))
    return out


def summarise_detection(rows):
    n = len(rows)
    ref = [r for r in rows if r["reference"]]

    def within(key):
        errs = [r[key] for r in ref if key in r]
        ok = sum(e <= 0.03 for e in errs)
        return {"within_3pct": ok, "of_reference_faces": len(ref), "pct": round(100 * ok / max(1, len(ref)), 1),
                "median_err_pct": round(100 * float(np.median(errs)), 2) if errs else None,
                "p95_err_pct": round(100 * float(np.percentile(errs, 95)), 2) if errs else None}

    return {
        "images": n,
        "mtcnn": {"found": sum(r["mtcnn_found"] for r in rows),
                  "found_pct": round(100 * sum(r["mtcnn_found"] for r in rows) / n, 1),
                  "false_detections": sum(r["mtcnn_false"] for r in rows),
                  "eyes": within("mtcnn_eye_err"),
                  "seconds_per_image": round(float(np.mean([r["mtcnn_s"] for r in rows])), 4)},
        "haar": {"found": sum(r["haar_found"] for r in rows),
                 "found_pct": round(100 * sum(r["haar_found"] for r in rows) / n, 1),
                 "eye_pair": sum(r["haar_eyes"] for r in rows),
                 "eye_pair_pct": round(100 * sum(r["haar_eyes"] for r in rows) / n, 1),
                 "eyes_template": within("haar_eye_err"),
                 "seconds_per_image": round(float(np.mean([r["haar_s"] for r in rows])), 4)},
        "reference_missing": n - len(ref),
        "missed_by_mtcnn": [(r["file"], r["scale"], r["angle"]) for r in rows if not r["mtcnn_found"]],
    }


def stand_in_edit(crop):
    x = cv2.GaussianBlur(crop, (0, 0), 1.5).astype(np.float32)
    x = x * np.array([1.10, 0.95, 0.90], np.float32) + 8
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def run_seams(files, seed, det_m):
    rng = np.random.default_rng(seed + 1)
    res = {"feather": {"seam": [], "kept": [], "s": []}, "seamless": {"seam": [], "kept": [], "s": []}}
    for f in files:
        face = read_image(f)
        canvas, _, _, _ = place(rng, face, (3 * face.shape[0], 3 * face.shape[1]))
        al, _ = A.align_faces(canvas, CROP, detector=det_m)
        if not al:
            continue
        a = al[0]
        edit = stand_in_edit(a.crop)
        m = A.pasted_mask(canvas.shape, a)
        core = m >= 1
        d_in = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3)
        d_out = cv2.distanceTransform((m <= 0).astype(np.uint8), cv2.DIST_L2, 3)
        band_in, band_out = (d_in > 0) & (d_in <= 4), (d_out > 0) & (d_out <= 4)
        target = cv2.warpAffine(edit, A.invert_matrix(a.matrix), canvas.shape[1::-1], flags=cv2.INTER_LINEAR)

        def step(img, band_in=band_in, band_out=band_out):
            return float(np.abs(img[band_in].astype(float).mean(0) - img[band_out].astype(float).mean(0)).mean())

        s0 = step(canvas)
        for blend in res:
            t0 = time.perf_counter()
            out = A.paste_back(canvas, edit, a, blend=blend)
            res[blend]["s"].append(time.perf_counter() - t0)
            res[blend]["seam"].append(step(out) - s0)
            res[blend]["kept"].append(float(np.abs(out[core].astype(int) - target[core]).mean()))
    return {b: {"seam_step_excess": round(float(np.mean(v["seam"])), 3),
                "mean_abs_diff_to_edit_inside": round(float(np.mean(v["kept"])), 2),
                "paste_ms": round(1000 * float(np.mean(v["s"])), 2), "faces": len(v["seam"])}
            for b, v in res.items()}


def run_video(files, seed, det_m, tmp, log):
    from caae_tf.edit import Editor
    from caae_tf.video import LandmarkTracker, edit_video, landmark_jitter

    rng = np.random.default_rng(seed + 2)
    stills = []
    for f in files[:3]:
        face = read_image(f)
        canvas, M, _, _ = place(rng, face, (3 * face.shape[0], 3 * face.shape[1]), scale=1.3)
        stills.append(canvas)
    H, W = stills[0].shape[:2]
    path = os.path.join(tmp, "still.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    for still in stills:
        for _ in range(30):
            noisy = np.clip(still.astype(np.int16) + rng.normal(0, 4, still.shape), 0, 255).astype(np.uint8)
            w.write(np.ascontiguousarray(cv2.resize(noisy, (W, H))[..., ::-1]))
    w.release()
    ident = Editor(lambda x, va: np.asarray(x, np.float32), None, 64, "identity")
    out = {}
    for smooth in (False, True):
        rep = edit_video(ident, path, os.path.join(tmp, f"out_{smooth}.mp4"), valence=0.0, arousal=0.0,
                         smooth=smooth, progress=False, detector=det_m)
        cap = cv2.VideoCapture(os.path.join(tmp, f"out_{smooth}.mp4"))
        n = 0
        while cap.read()[0]:
            n += 1
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        # jitter within each still (30 frames), not across the cuts between stills
        seq = rep.smoothed_landmarks if smooth else rep.raw_landmarks
        jit = float(np.mean([landmark_jitter(seq[i * 30 + 2 : (i + 1) * 30]) for i in range(3)]))
        out["smoothed" if smooth else "raw"] = {"jitter_px": round(jit, 3), "frames_in": 90, "frames_out": n,
                                                "fps_in": 25.0, "fps_out": fps, "frames_edited": rep.frames_edited,
                                                "seconds_per_frame": round(sum(rep.seconds.values()) / 90, 4)}
    # moving face: lag of the smoothing
    face = read_image(files[3])
    h, wd = face.shape[:2]
    ref = det_m.detect(face)[0].landmarks
    bg = background(rng, 3 * h, 3 * wd)
    err = {"raw": [], "smoothed": []}
    tr_s, tr_r = LandmarkTracker(smooth=True), LandmarkTracker(smooth=False)
    for k in range(50):
        M = np.float32([[1.3, 0, 40 + 2 * k], [0, 1.3, 80]])
        frame = bg.copy()
        warped = cv2.warpAffine(face, M, (3 * wd, 3 * h))
        mk = cv2.warpAffine(np.ones((h, wd), np.float32), M, (3 * wd, 3 * h)) > 0.5
        frame[mk] = warped[mk]
        frame = np.clip(frame.astype(np.int16) + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
        truth = A.apply_matrix(M.astype(np.float64), ref)
        faces = det_m.detect(frame)
        for key, tr in (("raw", tr_r), ("smoothed", tr_s)):
            got = tr.update(faces, k / 25.0)
            if got and k >= 5:
                err[key].append(float(np.linalg.norm(got[0].landmarks - truth, axis=1).mean()))
    out["moving_2px_per_frame"] = {k: {"mean_error_to_truth_px": round(float(np.mean(v)), 3)} for k, v in err.items()}
    log(f"  video: {out}")
    return out


def figure(files, seed, det_m, path, n=6):
    """Protocol canvases (top, MTCNN landmarks drawn) and their aligned 128 px crops (bottom)."""
    from caae_tf.images import make_grid, write_image

    rng = np.random.default_rng(seed)
    tops, crops = [], []
    for f in files[:n]:
        face = read_image(f)
        canvas, _, _, _ = place(rng, face, (3 * face.shape[0], 3 * face.shape[1]))
        al, _ = A.align_faces(canvas, CROP, detector=det_m)
        vis = canvas.copy()
        if al:
            x, y, w, h = al[0].box
            cv2.rectangle(vis, (x, y), (x + w, y + h), (0, 255, 0), 2)
            for px, py in al[0].landmarks:
                cv2.circle(vis, (int(round(px)), int(round(py))), 3, (255, 0, 0), -1)
            crop = al[0].crop.copy()
            for px, py in A.template_points(CROP)[:2]:
                cv2.circle(crop, (int(round(px)), int(round(py))), 2, (0, 255, 255), -1)
        else:
            crop = np.zeros((CROP, CROP, 3), np.uint8)
        tops.append(cv2.resize(vis, (CROP, int(round(CROP * vis.shape[0] / vis.shape[1])))))
        crops.append(crop)
    hmax = max(t.shape[0] for t in tops)
    tops = [cv2.copyMakeBorder(t, 0, hmax - t.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for t in tops]
    write_image(path, np.concatenate([make_grid(tops, cols=n), make_grid(crops, cols=n)], 0))


def make_full_photos(files, seed, folder, n=24):
    rng = np.random.default_rng(seed + 3)
    os.makedirs(folder, exist_ok=True)
    nfaces = 0
    for i in range(n):
        H, W = 960, 1280
        canvas = background(rng, H, W)
        k = int(rng.integers(1, 4))
        for j in range(k):
            face = read_image(files[int(rng.integers(len(files)))])
            s = rng.uniform(1.5, 3.0)
            fw, fh = int(face.shape[1] * s), int(face.shape[0] * s)
            x0 = int(j * W / k + rng.uniform(0, max(1, W / k - fw)))
            y0 = int(rng.uniform(0, H - fh))
            canvas[y0 : y0 + fh, x0 : x0 + fw] = cv2.resize(face, (fw, fh), interpolation=cv2.INTER_CUBIC)
        nfaces += k
        cv2.imwrite(os.path.join(folder, f"photo_{i:02d}.png"), canvas[..., ::-1])
    return nfaces


def run_throughput(files, seed, tmp, log):
    import keras

    from caae_tf.config import CAAEConfig, apply_overrides
    from caae_tf.edit import Editor, edit_files
    from caae_tf.models.caae import CAAE
    from caae_tf.serving import dummy_batch

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(seed)
    cfg = apply_overrides(CAAEConfig(), ["identity_weight=0"])
    model = CAAE(cfg)
    model.build_all(dummy_batch(cfg, 1))
    editor = Editor.from_model(model, source=f"untrained CAAE, paper architecture ({cfg.image_size} px)")
    photos = os.path.join(tmp, "photos")
    nfaces = make_full_photos(files, seed, photos)
    warm = edit_files(editor, [os.path.join(photos, "photo_00.png")], os.path.join(tmp, "warm"), valence=0.5,
                      arousal=0.5, align=True, progress=False)
    assert warm.written
    t0 = time.perf_counter()
    rep = edit_files(editor, [photos], os.path.join(tmp, "edited"), valence=0.5, arousal=0.5, align=True,
                     progress=False)
    wall = time.perf_counter() - t0
    n = len(rep.written)
    edited = rep.to_json()["faces_edited"]
    out = {"photos": n, "faces_in_photos": nfaces, "faces_edited": edited, "photo_size": "1280x960",
           "model": editor.source, "wall_s": round(wall, 2), "images_per_s": round(n / wall, 3),
           "seconds_per_image": {k: round(v / n, 4) for k, v in rep.timings.items()},
           "share_pct": {k: round(100 * v / sum(rep.timings.values()), 1) for k, v in rep.timings.items()}}
    log(f"  throughput: {out}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--celeba", default=os.environ.get("CAAE_CELEBA_DIR",
                                                      os.path.join(REPO, "..", "shared", "data", "celeba_aligned_220")))
    p.add_argument("--out", default=os.path.join(HERE, "results", "align"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="use only the first N crops (0 = all)")
    p.add_argument("--skip", default="",
                   help="comma list of parts to skip: figure,detection,synthetic,seams,video,throughput")
    args = p.parse_args(argv)
    if not os.path.isdir(args.celeba):
        print(f"CelebA crops not found at {args.celeba} (set --celeba or CAAE_CELEBA_DIR)", file=sys.stderr)
        return 2
    files = list_images(args.celeba)
    if args.limit:
        files = files[: args.limit]
    skip = set(filter(None, args.skip.split(",")))
    os.makedirs(args.out, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    det_m, det_h = get_detector("mtcnn"), get_detector("haar")
    det_m.detect(read_image(files[0]))  # load + warm up
    command = ["python3 experiments/align_benchmark.py", *(argv if argv is not None else sys.argv[1:])]
    result = {"command": " ".join(command),
              "seed": args.seed, "celeba": os.path.abspath(args.celeba), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    t_all = time.perf_counter()
    if "figure" not in skip:
        figure(files, args.seed, det_m, os.path.join(args.out, "align_examples.png"))
    if "detection" not in skip:
        log(f"detection + alignment on {len(files)} protocol canvases ...")
        rows = run_detection(files, args.seed, det_m, det_h, log)
        result["detection"] = summarise_detection(rows)
        log(json.dumps(result["detection"], indent=1))
    if "synthetic" not in skip:
        log(f"detection + alignment on {len(files)} synthetic faces with exact eyes ...")
        rows = run_detection(synthetic_faces(len(files), args.seed), args.seed, det_m, det_h, log)
        result["synthetic"] = summarise_detection(rows)
        log(json.dumps(result["synthetic"], indent=1))
    if "seams" not in skip:
        log("paste-back seams ...")
        result["seams"] = run_seams(files, args.seed, det_m)
        log(json.dumps(result["seams"]))
    with tempfile.TemporaryDirectory() as tmp:
        if "video" not in skip:
            log("video ...")
            result["video"] = run_video(files, args.seed, det_m, tmp, log)
        if "throughput" not in skip:
            log("throughput ...")
            result["throughput"] = run_throughput(files, args.seed, tmp, log)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["total_s"] = round(time.perf_counter() - t_all, 1)
    with open(os.path.join(args.out, "align_benchmark.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    with open(os.path.join(args.out, "align_benchmark.md"), "w") as fh:
        fh.write(markdown(result))
    log(f"wrote {args.out}/align_benchmark.json and .md")
    return 0


def _det_table(d, title):
    m, h = d["mtcnn"], d["haar"]
    return [f"## Detection + alignment: {d['images']} {title}, each in a 3× random canvas, scale 0.5-1.5, "
            f"rotation ±25°\n",
            "| detector | face found | eye pair | eyes within 3 % of the template (of faces with a reference) "
            "| median / p95 eye error | s/image |",
            "|---|---|---|---|---|---|",
            f"| MTCNN + template (new) | {m['found']}/{d['images']} ({m['found_pct']} %) | 5 landmarks | "
            f"{m['eyes']['within_3pct']}/{m['eyes']['of_reference_faces']} ({m['eyes']['pct']} %) | "
            f"{m['eyes']['median_err_pct']} % / {m['eyes']['p95_err_pct']} % | {m['seconds_per_image']} |",
            f"| Haar cascades (before) | {h['found']}/{d['images']} ({h['found_pct']} %) | "
            f"{h['eye_pair']}/{d['images']} ({h['eye_pair_pct']} %) | "
            f"{h['eyes_template']['within_3pct']}/{h['eyes_template']['of_reference_faces']} "
            f"({h['eyes_template']['pct']} %) | {h['eyes_template']['median_err_pct']} % / "
            f"{h['eyes_template']['p95_err_pct']} % | {h['seconds_per_image']} |",
            f"\nMTCNN false detections (boxes not containing the face centre): {m['false_detections']}. "
            f"Reference eyes missing (left out of the eye column): {d['reference_missing']}. "
            f"Missed by MTCNN (name, scale, angle): {d['missed_by_mtcnn']}.\n"]


def markdown(r):
    L = ["# Face detection + alignment benchmark\n",
         f"`{r['command']}` (seed {r['seed']}; {r['cpus']} CPUs, shared machine, load average "
         f"{r['load_average_start'][0]} at start, {r['load_average_end'][0]} at end; {r['total_s']} s in all).\n"]
    for key, title in (("detection", "CelebA crops (reference eyes: MTCNN on the untransformed crop)"),
                       ("synthetic", "synthetic faces (exact eyes from the renderer)")):
        if r.get(key):
            L += _det_table(r[key], title)
    s = r.get("seams")
    if s:
        L += ["## Paste-back seams (stand-in edit: blur + colour cast)\n",
              "| blend | colour step across the seam beyond the photo's own (levels; 0 = none) "
              "| mean abs diff to the edit inside the mask | paste ms |",
              "|---|---|---|---|"]
        L += [f"| {b} | {v['seam_step_excess']} | {v['mean_abs_diff_to_edit_inside']} | {v['paste_ms']} |"
              for b, v in s.items()]
        L.append("")
    v = r.get("video")
    if v:
        L += ["## Video (90 frames at 25 fps from 3 stills, sensor noise σ = 4)\n",
              "| landmarks | jitter (px, frame to frame; truth 0) | frames in → out | fps in → out "
              "| error to truth, face moving 2 px/frame |",
              "|---|---|---|---|---|"]
        for k in ("raw", "smoothed"):
            L.append(f"| {k} | {v[k]['jitter_px']} | {v[k]['frames_in']} → {v[k]['frames_out']} | "
                     f"{v[k]['fps_in']} → {v[k]['fps_out']} | "
                     f"{v['moving_2px_per_frame'][k]['mean_error_to_truth_px']} |")
        L.append("")
    t = r.get("throughput")
    if t:
        L += ["## Throughput of edit --align on full photos\n",
              f"{t['photos']} photos of {t['photo_size']} with {t['faces_in_photos']} faces "
              f"({t['faces_edited']} edited), "
              f"{t['model']}: **{t['images_per_s']} images/s** ({t['wall_s']} s).\n",
              "| stage | s/image | share |", "|---|---|---|"]
        L += [f"| {k} | {t['seconds_per_image'][k]} | {t['share_pct'][k]} % |" for k in t["seconds_per_image"]]
        L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
