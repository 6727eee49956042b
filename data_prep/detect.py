"""Face detection with five landmarks: MTCNN (default) and the OpenCV Haar cascades (documented fallback).

:class:`MTCNNDetector`
    The ``mtcnn`` package (MIT; Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task
    Cascaded Convolutional Networks") runs its P-, R- and O-nets in TensorFlow. Their weights
    (``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``) are *inside the wheel*; this module loads them by
    their absolute path in the installed package, so nothing is ever downloaded and a stray ``pnet.lz4``
    in the working directory cannot be picked up instead. Each face comes with a box, a confidence and five
    landmarks.

    * Photos larger than ``max_side`` (default 1024 px) are searched on an INTER_AREA-downscaled copy;
      boxes and landmarks are scaled back to full resolution (warping and paste-back use the full photo).
    * When nothing is found, the photo is searched once more with 25 % edge-replicated padding: tight
      face crops (aligned CelebA, a face filling the frame) are only found with room around them.
    * Faces whose box side ``max(w, h)`` is below ``min_face`` pixels (full-resolution units) are not
      returned by :meth:`detect`; :meth:`detect_all` returns them too so callers can count them.

:class:`HaarDetector`
    The Viola-Jones cascades shipped with ``opencv-python-headless`` 4.x (``data_prep.align.detect_faces``
    / ``detect_eyes``). It gives a face box and, when the eye cascade finds a pair, two eye centres; the
    nose and mouth corners are *estimated* from the box proportions (``Face.extra["estimated"]`` lists
    what was estimated). Kept as a fallback (``--detector haar``) when TensorFlow-based detection is
    unwanted; it misses tilted and profile faces (see experiments/results/align/).

Landmark order everywhere (:data:`LANDMARK_NAMES`): image-left eye, image-right eye, nose tip, image-left
mouth corner, image-right mouth corner, as (x, y) in pixel-index coordinates of the photo (pixel centres at
integers, the OpenCV convention). This is also the order of CelebA's ``list_landmarks_align_celeba.txt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from caae_tf.errors import DataError
from caae_tf.images import to_uint8, unit_to_uint8

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
DETECTORS = ("mtcnn", "haar")


@dataclass
class Face:
    """One detected face (photo coordinates, pixel centres at integers)."""

    box: tuple[float, float, float, float]
    """(x, y, w, h)."""
    landmarks: np.ndarray
    """float64 [5, 2], order :data:`LANDMARK_NAMES`."""
    score: float
    extra: dict = field(default_factory=dict)

    @property
    def side(self) -> float:
        return float(max(self.box[2], self.box[3]))

    @property
    def centre(self) -> np.ndarray:
        x, y, w, h = self.box
        return np.array([x + w / 2.0, y + h / 2.0])

    def to_json(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box],
                "landmarks": {n: [round(float(p[0]), 2), round(float(p[1]), 2)]
                              for n, p in zip(LANDMARK_NAMES, self.landmarks)},
                "score": round(float(self.score), 4)}


def _cv2():
    import cv2

    return cv2


def as_rgb8(image: np.ndarray, path: str = "<image>") -> np.ndarray:
    """Any image array → contiguous RGB uint8 [H, W, 3].

    Accepts grey [H, W] / [H, W, 1], RGB, RGBA (alpha dropped), uint8, uint16 (scaled by 1/257), bool, and
    float arrays (``[-1, 1]`` when any value is negative — the library's convention — else ``[0, 1]``).
    Files are read with :func:`caae_tf.images.read_image`, which already applies EXIF rotation and the
    same conversions. Anything else is a :class:`DataError` naming ``path``.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise DataError(f"{path}: expected an image [H,W], [H,W,3] or [H,W,4], got shape {list(a.shape)}")
    a = a[..., :3]
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32))
        a = to_uint8(np.clip(f, -1, 1)) if f.min() < 0 else unit_to_uint8(np.clip(f, 0, 1))  # [-1, 1] or [0, 1]
    elif np.issubdtype(a.dtype, np.integer):
        a = np.clip(a, 0, 255)
    else:
        raise DataError(f"{path}: unsupported image dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.uint8)


# ------------------------------------------------------------------------------------------ MTCNN

_MTCNN = None


def mtcnn_weights() -> dict[str, str]:
    """Absolute paths of the P/R/O-net weights inside the installed ``mtcnn`` wheel."""
    try:
        import mtcnn
    except ImportError:
        raise DataError("face detection needs the 'mtcnn' package (MIT, weights inside the wheel): "
                        "pip install 'mtcnn>=1.0,<2' (or use --detector haar)") from None
    folder = os.path.join(os.path.dirname(mtcnn.__file__), "assets", "weights")
    out = {k: os.path.join(folder, f"{k}.lz4") for k in ("pnet", "rnet", "onet")}
    missing = [p for p in out.values() if not os.path.isfile(p)]
    if missing:
        raise DataError(f"the installed mtcnn package lacks its weights ({', '.join(missing)}); reinstall it")
    return out


def _load_mtcnn():
    global _MTCNN
    if _MTCNN is None:
        from caae_tf.tf_env import tf as _tf

        _tf()  # quiet TensorFlow start-up, as everywhere in caae_tf
        w = mtcnn_weights()
        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StagePNet, StageRNet

        _MTCNN = MTCNN(stages=[StagePNet(weights=w["pnet"]), StageRNet(weights=w["rnet"]),
                               StageONet(weights=w["onet"])], device="CPU:0")
    return _MTCNN


class MTCNNDetector:
    """MTCNN faces + 5 landmarks (module docstring). ``threshold`` is O-net's confidence cut."""

    name = "mtcnn"

    def __init__(self, *, min_face: float = 20, max_side: int = 1024, threshold: float = 0.8,
                 pad_retry: bool = True):
        self.min_face = float(min_face)
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        self.pad_retry = pad_retry

    def _run(self, rgb: np.ndarray, min_size: float) -> list[Face]:
        net = _load_mtcnn()
        try:
            res = net.detect_faces(rgb, output_type="numpy", box_format="xywh", threshold_onet=self.threshold,
                                   min_face_size=max(12, int(min_size)))
        except (ValueError, IndexError):  # degenerate pyramids on tiny images
            return []
        res = np.asarray(res, dtype=np.float64).reshape(-1, 16) if np.size(res) else np.zeros((0, 16))
        faces = []
        for r in res:
            lm = np.stack([r[6:11], r[11:16]], axis=1)
            faces.append(Face(box=(r[1], r[2], r[3], r[4]), landmarks=lm, score=float(r[5])))
        return faces

    def detect_all(self, image: np.ndarray) -> list[Face]:
        """Every face (also those below ``min_face``), largest first, in full-resolution coordinates."""
        cv2 = _cv2()
        rgb = as_rgb8(image)
        H, W = rgb.shape[:2]
        scale = min(1.0, self.max_side / float(max(H, W)))
        small = rgb
        if scale < 1.0:
            small = cv2.resize(rgb, (max(1, int(round(W * scale))), max(1, int(round(H * scale)))),
                               interpolation=cv2.INTER_AREA)
            sx, sy = small.shape[1] / W, small.shape[0] / H
        else:
            sx = sy = 1.0
        min_size = min(20.0, self.min_face) * min(sx, sy)  # search a little below min_face, filter exactly
        faces = self._run(small, min_size)
        pad = 0
        if not faces and self.pad_retry:
            pad = int(round(0.25 * max(small.shape[:2])))
            faces = self._run(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE), min_size)
        out = []
        for f in faces:
            x, y, w, h = f.box
            # index coordinates: q = (p + 0.5)·s − 0.5  ⇒  p = (q + 0.5)/s − 0.5
            lm = (f.landmarks - pad + 0.5) / np.array([sx, sy]) - 0.5
            box = ((x - pad) / sx, (y - pad) / sy, w / sx, h / sy)
            out.append(Face(box=box, landmarks=lm, score=f.score,
                            extra={"padded": bool(pad), "detect_scale": round(min(sx, sy), 4)}))
        return sorted(out, key=lambda f: -f.box[2] * f.box[3])

    def detect(self, image: np.ndarray) -> list[Face]:
        return [f for f in self.detect_all(image) if f.side >= self.min_face]


# ------------------------------------------------------------------------------------------ Haar

class HaarDetector:
    """Haar-cascade face box + eye pair; nose and mouth estimated from the box (module docstring)."""

    name = "haar"

    def __init__(self, *, min_face: float = 20, max_side: int = 1024):
        self.min_face = float(min_face)
        self.max_side = int(max_side)

    def detect_all(self, image: np.ndarray) -> list[Face]:
        from data_prep.align import detect_eyes, detect_faces

        rgb = as_rgb8(image)
        out = []
        for box in detect_faces(rgb):
            x, y, w, h = (float(v) for v in box)
            eyes = detect_eyes(rgb, box)
            estimated = ["nose", "mouth_left", "mouth_right"]
            if eyes is None:
                eyes = np.array([[x + 0.3 * w, y + 0.38 * h], [x + 0.7 * w, y + 0.38 * h]])
                estimated = ["left_eye", "right_eye"] + estimated
            mid, d = eyes.mean(0), eyes[1] - eyes[0]
            perp = np.array([-d[1], d[0]])  # points down the face when the eyes are level
            lm = np.array([eyes[0], eyes[1], mid + 0.57 * perp, mid - 0.41 * d + 1.16 * perp,
                           mid + 0.41 * d + 1.16 * perp])
            out.append(Face(box=(x, y, w, h), landmarks=lm, score=1.0 if len(estimated) == 3 else 0.5,
                            extra={"estimated": estimated}))
        return out

    def detect(self, image: np.ndarray) -> list[Face]:
        return [f for f in self.detect_all(image) if f.side >= self.min_face]


def get_detector(name: str = "mtcnn", **kwargs):
    """``"mtcnn"`` → :class:`MTCNNDetector`, ``"haar"`` → :class:`HaarDetector` (kwargs passed on)."""
    if name == "mtcnn":
        return MTCNNDetector(**kwargs)
    if name == "haar":
        kwargs.pop("threshold", None)
        kwargs.pop("pad_retry", None)
        return HaarDetector(**kwargs)
    raise DataError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")
