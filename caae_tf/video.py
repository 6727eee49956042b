"""Edit the faces of a video to a (valence, arousal), or to a time schedule of them, frame by frame.

``caae-tf edit --video in.mp4 --valence V --arousal A --out out.mp4`` (or ``--schedule va.csv``):

1. frames are read with OpenCV (``cv2.VideoCapture``; its bundled FFmpeg reads mp4/avi/mkv/mov...) and
   written with ``cv2.VideoWriter`` at the input's frame rate and size, one output frame per input frame
   (FourCC by extension: ``.mp4``/``.mov``/``.mkv`` → ``mp4v``, ``.avi`` → ``MJPG``; ``codec=`` overrides);
2. every frame's faces are detected (MTCNN, :mod:`data_prep.detect`) and associated with the faces of
   earlier frames (:class:`LandmarkTracker`: nearest face centre within half a face width);
3. each track's five landmarks are smoothed over time with a One-Euro filter (Casiez, Roussel & Vogel,
   CHI 2012: a low-pass filter whose cut-off rises with speed, so a still face stops jittering while a
   moving one is followed without lag; speed is measured in face widths per second, so the filter does
   not depend on the face's size in pixels; defaults min_cutoff 0.5 Hz, beta 30 per face-width/s, chosen
   on simulated landmark noise: jitter of a still face ÷ 5.7, error of a face moving 2 px/frame +0.15 px);
4. the smoothed landmarks go through the same alignment / edit / paste-back as photos
   (:func:`caae_tf.edit.edit_photo`);
5. frames with no face (or only faces below ``min_face``) are written unchanged and counted.

The schedule CSV has a header with ``valence``, ``arousal`` and either ``time`` (seconds) or ``frame``
(0-based index); labels are linearly interpolated between rows and held before the first / after the
last. :class:`VideoReport` lists frame counts, fps, the codec, per-stage seconds and each frame's raw and
smoothed landmarks of the largest face, from which :func:`landmark_jitter` measures the frame-to-frame
jitter with and without smoothing.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from caae_tf.errors import DataError, UserError

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


class VideoError(DataError):
    """A video that cannot be read or written; ``str()`` names the file."""


def _cv2():
    import cv2

    return cv2


# ------------------------------------------------------------------------------------------ schedule

@dataclass
class Schedule:
    """Piecewise-linear (valence, arousal) over time (``unit`` = ``"time"`` seconds or ``"frame"``)."""

    keys: np.ndarray
    va: np.ndarray
    unit: str = "time"

    def at(self, frame: int, fps: float) -> np.ndarray:
        k = frame / fps if self.unit == "time" else float(frame)
        return np.array([np.interp(k, self.keys, self.va[:, 0]), np.interp(k, self.keys, self.va[:, 1])],
                        np.float32)


def read_schedule(path: str) -> Schedule:
    """Read a schedule CSV (module docstring); every problem is a :class:`UserError` naming file and row."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"{path}: schedule file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    unit = "time" if "time" in df.columns else "frame" if "frame" in df.columns else None
    missing = [c for c in ("valence", "arousal") if c not in df.columns]
    if unit is None or missing:
        raise UserError(f"{path}: a schedule needs the columns time (or frame), valence, arousal; "
                        f"found {', '.join(df.columns) or 'none'}")
    if len(df) == 0:
        raise UserError(f"{path}: the schedule has no rows")
    vals = df[[unit, "valence", "arousal"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    for i, row in enumerate(vals):
        if not np.all(np.isfinite(row)):
            raise UserError(f"{path}: row {i + 2}: {unit}/valence/arousal must be numbers")
        if abs(row[1]) > 1 or abs(row[2]) > 1:
            raise UserError(f"{path}: row {i + 2}: valence/arousal must lie in [-1, 1], got ({row[1]}, {row[2]})")
        if row[0] < 0:
            raise UserError(f"{path}: row {i + 2}: {unit} must be >= 0")
    order = np.argsort(vals[:, 0], kind="stable")
    return Schedule(vals[order, 0], vals[order, 1:].astype(np.float32), unit)


# ------------------------------------------------------------------------------------------ smoothing

class OneEuroFilter:
    """One-Euro filter (Casiez et al. 2012) of an array; ``speed_scale`` divides the derivative before it
    raises the cut-off (here: the face width, so ``beta`` is per face-width/second)."""

    def __init__(self, min_cutoff: float = 0.5, beta: float = 30.0, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float, speed_scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        speed = float(np.abs(self.dx).max()) / max(speed_scale, 1e-6)
        a = self._alpha(self.min_cutoff + self.beta * speed, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


class LandmarkTracker:
    """Associates each frame's faces with earlier ones and smooths every track's landmarks and box."""

    def __init__(self, *, smooth: bool = True, min_cutoff: float = 0.5, beta: float = 30.0, max_missed: int = 5):
        self.smooth = smooth
        self.params = dict(min_cutoff=min_cutoff, beta=beta)
        self.max_missed = max_missed
        self.tracks: list[dict] = []
        self._next = 0

    def update(self, faces: list, t: float) -> list:
        """``faces`` (:class:`data_prep.detect.Face`, largest first) → the same faces, landmarks and box
        smoothed, ``extra["track"]`` set; unmatched tracks age and are dropped after ``max_missed``."""
        from data_prep.detect import Face

        out, used = [], set()
        for f in faces:
            c, side = f.centre, f.side
            best, dist = None, 0.5 * side
            for tr in self.tracks:
                if id(tr) in used:
                    continue
                d = float(np.linalg.norm(tr["centre"] - c))
                if d < dist:
                    best, dist = tr, d
            if best is None:
                best = {"id": self._next, "lm": OneEuroFilter(**self.params), "box": OneEuroFilter(**self.params)}
                self._next += 1
                self.tracks.append(best)
            used.add(id(best))
            best["centre"], best["missed"] = c, 0
            if self.smooth:
                lm = best["lm"](f.landmarks, t, side)
                box = best["box"](np.asarray(f.box, np.float64), t, side)
            else:
                lm, box = f.landmarks.copy(), np.asarray(f.box, np.float64)
            out.append(Face(box=tuple(float(v) for v in box), landmarks=lm, score=f.score,
                            extra={**f.extra, "track": best["id"], "raw_landmarks": f.landmarks}))
        for tr in self.tracks:
            if id(tr) not in used:
                tr["missed"] = tr.get("missed", 0) + 1
        self.tracks = [tr for tr in self.tracks if tr["missed"] <= self.max_missed]
        return out


def landmark_jitter(seq) -> float:
    """Mean frame-to-frame displacement (px) of the five landmarks over a sequence of [5, 2] arrays
    (``None`` = no face in that frame; pairs with a gap are left out). NaN when no pair exists."""
    d = [float(np.linalg.norm(np.asarray(b) - np.asarray(a), axis=1).mean())
         for a, b in zip(seq[:-1], seq[1:]) if a is not None and b is not None]
    return float(np.mean(d)) if d else float("nan")


# ------------------------------------------------------------------------------------------ editing

@dataclass
class VideoReport:
    input: str
    output: str
    fps: float
    size: tuple[int, int]
    codec: str
    frames_read: int = 0
    frames_written: int = 0
    frames_edited: int = 0
    frames_no_face: int = 0
    faces_edited: int = 0
    seconds: dict = field(default_factory=dict)
    raw_landmarks: list = field(default_factory=list)
    """Per frame: the largest face's detected landmarks ([5, 2]) or None."""
    smoothed_landmarks: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"input": self.input, "output": self.output, "fps": self.fps, "width": self.size[0],
                "height": self.size[1], "codec": self.codec, "frames_read": self.frames_read,
                "frames_written": self.frames_written, "frames_edited": self.frames_edited,
                "frames_no_face": self.frames_no_face, "faces_edited": self.faces_edited,
                "landmark_jitter_px": {"raw": _r(landmark_jitter(self.raw_landmarks)),
                                       "smoothed": _r(landmark_jitter(self.smoothed_landmarks))},
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}, "notes": self.notes}


def _r(x: float):
    return None if not math.isfinite(x) else round(x, 4)


def open_video(path: str):
    """``cv2.VideoCapture`` of ``path`` or a :class:`VideoError` naming the file and the reason."""
    cv2 = _cv2()
    if not os.path.exists(path):
        raise VideoError(f"{path}: video file not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a directory, expected a video file")
    prev = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        cap = cv2.VideoCapture(path)
    finally:
        cv2.utils.logging.setLogLevel(prev)
    if not cap.isOpened():
        raise VideoError(f"{path}: cannot read this video (not a video file, corrupt, or a codec OpenCV's "
                         f"FFmpeg does not have)")
    return cap


def edit_video(
    editor,
    src: str,
    dst: str,
    *,
    valence: float | None = None,
    arousal: float | None = None,
    schedule: Schedule | None = None,
    smooth: bool = True,
    min_face: float = 20,
    face_index=None,
    detector="mtcnn",
    blend: str = "residual",
    max_side: int = 1024,
    codec: str | None = None,
    progress: bool = True,
    min_cutoff: float = 0.5,
    beta: float = 30.0,
) -> VideoReport:
    """Edit every frame of ``src`` into ``dst`` (module docstring). ``face_index`` picks faces by their
    per-frame size rank (0 = largest)."""
    from caae_tf.edit import edit_photo
    from caae_tf.labels import validate_va
    from caae_tf.progress import Progress
    from data_prep.align import NoFaceError
    from data_prep.detect import get_detector

    cv2 = _cv2()
    if schedule is None:
        if valence is None or arousal is None:
            raise UserError("give --valence and --arousal, or --schedule CSV")
        fixed = validate_va(np.array([valence, arousal], np.float32))
    cap = open_video(src)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{src}: cannot read this video (no decodable frame)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        notes = []
        if not (math.isfinite(fps) and 0 < fps < 1000):
            notes.append(f"frame rate unknown ({fps}); written at 25 fps")
            fps = 25.0
        H, W = frame.shape[:2]
        ext = os.path.splitext(dst)[1].lower()
        fourcc = codec or CODECS.get(ext)
        if fourcc is None:
            raise VideoError(f"{dst}: unknown video extension {ext or '(none)'}; use one of {', '.join(CODECS)}")
        if os.path.dirname(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
        if not writer.isOpened():
            raise VideoError(f"{dst}: cannot write a {fourcc} video here")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        rep = VideoReport(src, dst, fps, (W, H), fourcc, notes=notes)
        rep.seconds = {k: 0.0 for k in ("read", "detect", "warp", "model", "paste", "write")}
        det = get_detector(detector, min_face=min_face, max_side=max_side) if isinstance(detector, str) else detector
        tracker = LandmarkTracker(smooth=smooth, min_cutoff=min_cutoff, beta=beta)
        bar = Progress(total, f"editing {src} ({W}x{H}, {fps:g} fps) with {editor.source}", progress, unit="frame")
        k = 0
        try:
            while ok and frame is not None:
                rep.frames_read += 1
                rgb = np.ascontiguousarray(frame[..., ::-1])
                t0 = time.perf_counter()
                faces = [f for f in det.detect_all(rgb)]
                rep.seconds["detect"] += time.perf_counter() - t0
                big = [f for f in faces if f.side >= min_face]
                smoothed = tracker.update(big, k / fps)
                rep.raw_landmarks.append(big[0].landmarks.copy() if big else None)
                rep.smoothed_landmarks.append(smoothed[0].landmarks.copy() if smoothed else None)
                out = rgb
                if smoothed:
                    va = schedule.at(k, fps) if schedule is not None else fixed
                    try:
                        res = edit_photo(editor, rgb, va, faces=smoothed, face_index=face_index, min_face=min_face,
                                         blend=blend, path=f"{src} frame {k}", timings=rep.seconds)
                        out = res.image
                        rep.frames_edited += 1
                        rep.faces_edited += sum("valence" in f for f in res.faces)
                    except NoFaceError:
                        rep.frames_no_face += 1
                else:
                    rep.frames_no_face += 1
                t0 = time.perf_counter()
                writer.write(np.ascontiguousarray(out[..., ::-1]))
                rep.frames_written += 1
                rep.seconds["write"] += time.perf_counter() - t0
                bar.update(1)
                k += 1
                t0 = time.perf_counter()
                ok, frame = cap.read()
                rep.seconds["read"] += time.perf_counter() - t0
        finally:
            writer.release()
            bar.close()
    finally:
        cap.release()
    if rep.frames_no_face:
        print(f"note: {src}: {rep.frames_no_face} of {rep.frames_read} frame(s) had no face "
              f"(of at least {min_face:g} px) and were passed through unchanged", file=sys.stderr)
    return rep
