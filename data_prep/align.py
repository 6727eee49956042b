"""One face-alignment convention for training and inference: 5 landmarks → a canonical template.

Detection (:mod:`data_prep.detect`) gives five landmarks per face — image-left eye, image-right eye, nose
tip, image-left and image-right mouth corner. A **template** places the same five points in a *unit face
square*; a **margin** ``m`` grows that square by ``m`` of its side on every side, and the crop of size
``S`` shows the grown square, so a template point ``u`` lands at pixel-index coordinates

    p = (u + m) / (1 + 2m) · S − 0.5            (pixel centres at integers, the OpenCV convention).

:func:`similarity_transform` fits the least-squares similarity (rotation, uniform scale, translation; no
reflection, no shear — Umeyama 1991) that maps the five detected points onto the five template points;
``cv2.warpAffine`` of the photo with that 2×3 matrix is the aligned crop (shrink factors below 1/2 are
pre-shrunk with INTER_AREA first, with the matrix adjusted exactly, so large photos do not alias).

Template ``face5`` (the default) is the standard five-point mean face of the 112×112 ArcFace/InsightFace
crops divided by 112 and made left/right symmetric: eyes at (0.3427, 0.4607) and (0.6573, 0.4607), nose at
(0.5, 0.6405), mouth corners at (0.3697, 0.8240) and (0.6303, 0.8240). With the default margin 0.2 the eyes
sit at 47 % of the crop height and 22.5 % of its width apart — within 2 % of the image side of where
``data_prep.synthetic`` draws them (eyes 45.6 % down and 22.4 % apart, mouth 72 % down), so
``edit --align`` crops of real photos look like the synthetic training faces, and AffectNet's default box
margin (0.2) gives the same framing. ``caae-tf prepare`` writes ``{"template", "margin", "size"}`` into
``manifest.json`` (``"alignment"``), ``caae-tf export caae`` copies it into ``caae_tf_export.json``, and
``caae-tf edit`` aligns with the model's own template and margin (:func:`caae_tf.edit.model_alignment`).

Paste-back (:func:`paste_back`) adds the edit's change (edited − original crop), warped back with the inverse
matrix, through the face mask (``blend="residual"``, the default of ``caae-tf edit``: pixels the edit left
unchanged keep the photo's full resolution), or warps the edited crop itself back and blends it through a
**face mask** (:func:`face_mask`: an ellipse around the template's face — brows to chin, cheek to cheek —
feathered inwards so it falls to exactly 0 at the ellipse) or, with ``blend="seamless"``, Poisson-blends it
(``cv2.seamlessClone``) inside the same mask. Both touch only pixels where the warped mask is > 0: every
other pixel of the photo is returned byte-identical. Only the bounding box of the crop's footprint is
warped, so pasting into a 50-megapixel photo costs the same as into a small one.

The OpenCV Haar functions below (:func:`detect_faces`, :func:`detect_eyes`) are the previous detector, kept
as :class:`data_prep.detect.HaarDetector` (``--detector haar``) and as the "before" of the benchmark.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from caae_tf.errors import DataError
from caae_tf.images import to_uint8


class NoFaceError(DataError):
    """No face was found in an image; ``str()`` names the image."""


# ------------------------------------------------------------------------------------------ templates

@dataclass(frozen=True)
class FaceTemplate:
    """Five canonical points in the unit face square (order :data:`data_prep.detect.LANDMARK_NAMES`)."""

    name: str
    points: tuple[tuple[float, float], ...]
    mask_centre: tuple[float, float] = (0.5, 0.56)
    """Face-mask ellipse centre and semi-axes, in unit-face-square units."""
    mask_axes: tuple[float, float] = (0.40, 0.50)

    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64)

    def to_dict(self) -> dict:
        return {"name": self.name, "points": [list(p) for p in self.points],
                "mask_centre": list(self.mask_centre), "mask_axes": list(self.mask_axes)}

    @classmethod
    def from_dict(cls, d: dict) -> "FaceTemplate":
        try:
            pts = tuple((float(x), float(y)) for x, y in d["points"])
            if len(pts) != 5:
                raise ValueError("need 5 points")
            return cls(str(d.get("name", "custom")), pts, tuple(d.get("mask_centre", (0.5, 0.56))),
                       tuple(d.get("mask_axes", (0.40, 0.50))))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid face template {d!r}: {exc}") from None


TEMPLATES: dict[str, FaceTemplate] = {
    "face5": FaceTemplate("face5", ((0.3427, 0.4607), (0.6573, 0.4607), (0.5, 0.6405), (0.3697, 0.8240),
                                    (0.6303, 0.8240))),
}
DEFAULT_TEMPLATE = "face5"
DEFAULT_MARGIN = 0.2


def get_template(template: "str | dict | FaceTemplate | None" = None) -> FaceTemplate:
    """A template by name (``face5``), from its dict (as stored in manifests), or itself."""
    if template is None:
        return TEMPLATES[DEFAULT_TEMPLATE]
    if isinstance(template, FaceTemplate):
        return template
    if isinstance(template, dict):
        if "points" not in template and template.get("name") in TEMPLATES:
            return TEMPLATES[template["name"]]
        return FaceTemplate.from_dict(template)
    if template not in TEMPLATES:
        raise DataError(f"unknown face template {template!r}; known: {', '.join(TEMPLATES)}")
    return TEMPLATES[template]


def alignment_info(size: int, margin: float = DEFAULT_MARGIN, template=None, **extra) -> dict:
    """The record written to manifests and export metadata: ``{"template": {...}, "margin", "size"}``."""
    return {"template": get_template(template).to_dict(), "margin": float(margin), "size": int(size), **extra}


def template_points(size: int, margin: float = DEFAULT_MARGIN, template=None) -> np.ndarray:
    """The template's five points in pixel-index coordinates of a ``size``² crop (module docstring)."""
    if not margin > -0.5:
        raise DataError(f"margin must be > -0.5, got {margin}")
    u = get_template(template).array()
    return (u + margin) / (1.0 + 2.0 * margin) * size - 0.5


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991, no reflection) mapping ``src`` [N,2] onto ``dst`` [N,2];
    returns the 2×3 float64 matrix ``M`` with ``dst ≈ M @ [x, y, 1]``."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise DataError(f"similarity_transform needs matching point sets of >= 2 points, got {src.shape}, {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / len(src)
    if not var_s > 1e-12:
        raise DataError("similarity_transform: the source points coincide")
    cov = d0.T @ s0 / len(src)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(2)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[1, 1] = -1.0
    R = U @ S @ Vt
    scale = float(np.trace(np.diag(D) @ S) / var_s)
    M = np.zeros((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = mu_d - scale * R @ mu_s
    return M


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float = DEFAULT_MARGIN, template=None) -> np.ndarray:
    """2×3 matrix photo → crop that puts the five ``landmarks`` on the template (least squares)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if lm.shape != (5, 2) or not np.all(np.isfinite(lm)):
        raise DataError(f"alignment needs 5 finite (x, y) landmarks, got {lm.tolist()}")
    return similarity_transform(lm, template_points(size, margin, template))


def apply_matrix(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return pts @ M[:, :2].T + M[:, 2]


def invert_matrix(M: np.ndarray) -> np.ndarray:
    A = np.asarray(M, dtype=np.float64)[:, :2]
    Ai = np.linalg.inv(A)
    return np.c_[Ai, -Ai @ M[:, 2]]


def warp_to_crop(rgb: np.ndarray, M: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine(rgb, M, (size, size))`` with edge replication; when ``M`` shrinks by more than
    2×, the photo is first shrunk with INTER_AREA (and ``M`` composed with the exact inverse of that
    resize), so large photos are averaged, not aliased."""
    cv2 = _cv2()
    scale = math.sqrt(abs(np.linalg.det(M[:, :2])))
    src, Ms = rgb, M
    if scale < 0.5:
        k = 2.0 * scale
        H, W = rgb.shape[:2]
        w2, h2 = max(1, int(round(W * k))), max(1, int(round(H * k)))
        src = cv2.resize(rgb, (w2, h2), interpolation=cv2.INTER_AREA)
        kx, ky = w2 / W, h2 / H
        # shrunk index q = (p + 0.5)·k − 0.5  ⇒  p = (q + 0.5)/k − 0.5
        A = np.array([[1.0 / kx, 0.0, 0.5 / kx - 0.5], [0.0, 1.0 / ky, 0.5 / ky - 0.5]])
        Ms = M[:, :2] @ A[:, :2]
        Ms = np.c_[Ms, M[:, :2] @ A[:, 2] + M[:, 2]]
    return cv2.warpAffine(src, Ms, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class AlignedFace:
    """One aligned face: the crop and everything needed to paste an edit of it back."""

    crop: np.ndarray
    """uint8 [S, S, 3] aligned face crop."""
    matrix: np.ndarray
    """2×3 float64 affine map photo → crop coordinates (pixel centres, OpenCV convention)."""
    box: tuple[int, int, int, int]
    """Detected face box (x, y, w, h) in photo coordinates."""
    eyes: np.ndarray | None = None
    """[[left_x, left_y], [right_x, right_y]] in photo coordinates (image-left eye first)."""
    eyes_found: bool = False
    angle: float = 0.0
    """In-plane rotation (degrees) the alignment removed: the photo's eye-line angle atan2(dy, dx)."""
    photo_shape: tuple[int, int] = (0, 0)
    extra: dict = field(default_factory=dict)
    landmarks: np.ndarray | None = None
    """float64 [5, 2] landmarks in photo coordinates (:data:`data_prep.detect.LANDMARK_NAMES`)."""
    score: float = 1.0
    template: object = None
    """The :class:`FaceTemplate` used (None: a legacy crop, pasted with :func:`feather_mask`)."""
    margin: float = DEFAULT_MARGIN
    index: int = 0
    """Position of this face in the photo's detections (largest first)."""

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])

    def to_json(self) -> dict:
        from data_prep.detect import LANDMARK_NAMES

        out = {"index": int(self.index), "box": [int(v) for v in self.box], "score": round(float(self.score), 4),
               "angle": round(float(self.angle), 2)}
        if self.landmarks is not None:
            out["landmarks"] = {n: [round(float(p[0]), 2), round(float(p[1]), 2)]
                                for n, p in zip(LANDMARK_NAMES, self.landmarks)}
        return out


_CASCADES: dict[str, object] = {}


def _cv2():
    import cv2

    return cv2


def cascade(name: str):
    """Load (once) a cascade bundled with OpenCV, e.g. ``haarcascade_frontalface_default.xml``."""
    cv2 = _cv2()
    if name not in _CASCADES:
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise DataError(f"face detection needs OpenCV 4.x with its Haar cascades (found OpenCV "
                            f"{cv2.__version__}); run: pip install 'opencv-python-headless>=4.9,<5'")
        path = os.path.join(cv2.data.haarcascades, name)
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise DataError(f"{path}: could not load the Haar cascade")
        _CASCADES[name] = clf
    return _CASCADES[name]


def _grey(rgb: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    g = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return g


def detect_faces(rgb: np.ndarray, *, min_size_frac: float = 0.1) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in image coordinates, largest first (see module docstring, step 1)."""
    cv2 = _cv2()
    g = _grey(rgb)
    H, W = g.shape
    scale = min(1.0, 1024.0 / max(H, W))
    if scale < 1.0:
        g = cv2.resize(g, (int(round(W * scale)), int(round(H * scale))), interpolation=cv2.INTER_AREA)
    clf = cascade("haarcascade_frontalface_default.xml")
    h, w = g.shape
    for pad_frac, neighbours in ((0.0, 4), (0.25, 3), (0.5, 2)):
        p = int(round(pad_frac * max(h, w)))
        gp = cv2.copyMakeBorder(g, p, p, p, p, cv2.BORDER_REPLICATE) if p else g
        gp = cv2.equalizeHist(gp)
        m = max(20, int(min_size_frac * min(h, w)))
        found = clf.detectMultiScale(gp, scaleFactor=1.05, minNeighbors=neighbours, minSize=(m, m))
        if len(found):
            boxes = []
            for (x, y, bw, bh) in found:
                x0, y0 = (x - p) / scale, (y - p) / scale
                boxes.append((int(round(x0)), int(round(y0)), int(round(bw / scale)), int(round(bh / scale))))
            return sorted(boxes, key=lambda b: -b[2] * b[3])
    return []


def detect_eyes(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """Eye centres [[lx, ly], [rx, ry]] (image-left first) inside ``box``, or None."""
    cv2 = _cv2()
    g = _grey(rgb)
    H, W = g.shape
    x, y, w, h = box
    p = int(w)  # pad so a box that leaves the image still has pixels to search
    gp = cv2.copyMakeBorder(g, p, p, p, p, cv2.BORDER_REPLICATE)
    roi = gp[y + p : y + p + int(0.6 * h), x + p : x + p + w]
    if roi.size == 0:
        return None
    if w > 240:  # eyes are found faster and as well at ~200 px face width
        k = 200.0 / w
        roi = cv2.resize(roi, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    else:
        k = 1.0
    roi = cv2.equalizeHist(roi)
    rw = roi.shape[1]
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        for neighbours in (3, 1):
            eyes = cascade(name).detectMultiScale(roi, scaleFactor=1.05, minNeighbors=neighbours,
                                                  minSize=(max(5, rw // 10),) * 2, maxSize=(rw // 2,) * 2)
            pair = _best_pair(eyes, rw)
            if pair is not None:
                return pair / k + np.array([x, y], dtype=np.float64)
    return None


def _best_pair(eyes, width: int) -> np.ndarray | None:
    cands = [(ex + ew / 2.0, ey + eh / 2.0, ew) for (ex, ey, ew, eh) in eyes]
    left = [c for c in cands if c[0] < 0.5 * width]
    right = [c for c in cands if c[0] >= 0.5 * width]
    best, score = None, -1e9
    for lc in left:
        for rc in right:
            dx, dy = rc[0] - lc[0], rc[1] - lc[1]
            if dx < 0.25 * width or abs(dy) > 0.5 * dx:
                continue
            size_ratio = min(lc[2], rc[2]) / max(lc[2], rc[2])
            s = size_ratio - abs(dy) / dx - abs((lc[0] + rc[0]) / 2 - width / 2) / width
            if s > score:
                best, score = np.array([[lc[0], lc[1]], [rc[0], rc[1]]], dtype=np.float64), s
    return best




# ------------------------------------------------------------------------------------------ alignment

def _angle(M: np.ndarray) -> float:
    return math.degrees(math.atan2(-M[1, 0], M[0, 0]))


def align_landmarks(rgb: np.ndarray, landmarks: np.ndarray, size: int, margin: float = DEFAULT_MARGIN,
                    template=None, *, box=None, score: float = 1.0, index: int = 0,
                    eyes_found: bool = True) -> AlignedFace:
    """Align a face whose five landmarks are known (from a detector, a data set, or a smoothed track)."""
    rgb = np.asarray(rgb)
    tpl = get_template(template)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    M = alignment_matrix(lm, size, margin, tpl)
    crop = warp_to_crop(rgb, M, size)
    if box is None:
        lo, hi = lm.min(0), lm.max(0)
        box = (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
    return AlignedFace(crop=crop, matrix=M, box=tuple(int(round(v)) for v in box), eyes=lm[:2].copy(),
                       eyes_found=eyes_found, angle=_angle(M), photo_shape=(int(rgb.shape[0]), int(rgb.shape[1])),
                       landmarks=lm, score=float(score), template=tpl, margin=float(margin), index=int(index))


def align_faces(rgb: np.ndarray, size: int = 256, margin: float = DEFAULT_MARGIN, template=None, *,
                detector="mtcnn", min_face: float = 20, max_side: int = 1024, faces=None,
                path: str = "<image>") -> tuple[list[AlignedFace], list[dict]]:
    """Detect and align every face of ``rgb`` (largest first).

    Returns ``(aligned, skipped)``: ``skipped`` lists ``{"index", "box", "score", "reason"}`` for faces
    smaller than ``min_face`` px (box side). ``detector`` is a name (``mtcnn``/``haar``) or a detector
    object; ``faces`` (a list of :class:`data_prep.detect.Face`) skips detection.
    """
    from data_prep.detect import as_rgb8, get_detector

    rgb = as_rgb8(rgb, path)
    if faces is None:
        det = get_detector(detector, min_face=min_face, max_side=max_side) if isinstance(detector, str) else detector
        faces = det.detect_all(rgb)
    aligned, skipped = [], []
    for i, f in enumerate(faces):
        if f.side < min_face:
            skipped.append({"index": i, **f.to_json(),
                            "reason": f"face {f.side:.0f} px < minimum {min_face:g} px"})
            continue
        est = f.extra.get("estimated", [])
        a = align_landmarks(rgb, f.landmarks, size, margin, template, box=f.box, score=f.score, index=i,
                            eyes_found="left_eye" not in est)
        a.extra.update(f.extra)
        aligned.append(a)
    return aligned, skipped


def align_face(rgb: np.ndarray, size: int = 256, margin: float = DEFAULT_MARGIN, *, path: str = "<image>",
               align_eyes: bool = True, template=None, detector="mtcnn", min_face: float = 20) -> AlignedFace:
    """Detect the largest face and align it to the template (module docstring).

    Raises :class:`NoFaceError` ("<path>: no face found", or naming the minimum when faces were too
    small). ``align_eyes`` is accepted for compatibility (alignment always uses the landmarks).
    """
    aligned, skipped = align_faces(rgb, size, margin, template, detector=detector, min_face=min_face, path=path)
    if not aligned:
        if skipped:
            raise NoFaceError(f"{path}: no face found of at least {min_face:g} px "
                              f"({len(skipped)} smaller face(s) skipped)")
        raise NoFaceError(f"{path}: no face found")
    return aligned[0]


# ------------------------------------------------------------------------------------------ masks

def feather_mask(size: int, feather: float = 0.1) -> np.ndarray:
    """float32 [size, size] in [0, 1]: a filled ellipse inset from the border, Gaussian-blurred so it
    reaches exactly 0 before the crop border (``feather`` = blur width as a fraction of ``size``).
    Used for crops without a template (legacy); template crops use :func:`face_mask`."""
    cv2 = _cv2()
    blur = max(1, int(round(feather * size)))
    mask = np.zeros((size, size), np.float32)
    r = (size - 1) / 2.0
    axes = (max(1, int(r - 1.5 * blur - 1)), max(1, int(r - 1.5 * blur - 1)))
    centre = (int(round(r)), int(round(r)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    k = 2 * blur + 1
    mask = cv2.GaussianBlur(mask, (k, k), sigmaX=blur / 2.0, borderType=cv2.BORDER_CONSTANT)
    mask[mask < 1e-3] = 0.0
    return mask


def face_mask(size: int, margin: float = DEFAULT_MARGIN, template=None, feather: float = 0.1) -> np.ndarray:
    """float32 [size, size] in [0, 1]: the template's face ellipse (brows to chin, cheek to cheek), 1 inside
    and falling smoothly to exactly 0 *at* the ellipse over ``feather`` × size pixels (a distance-based
    ramp, smoothstep-shaped). The ellipse is clipped to stay one feather width inside the crop."""
    cv2 = _cv2()
    tpl = get_template(template)
    k = size / (1.0 + 2.0 * margin)
    cx, cy = ((np.asarray(tpl.mask_centre) + margin) * k - 0.5)
    ax, ay = np.asarray(tpl.mask_axes) * k
    f = max(1.0, feather * size)
    ax = min(ax, cx - 1.0, size - 2.0 - cx)
    ay = min(ay, cy - 1.0, size - 2.0 - cy)
    if ax <= 1 or ay <= 1:
        return feather_mask(size, feather)
    inside = np.zeros((size, size), np.uint8)
    cv2.ellipse(inside, (int(round(cx * 16)), int(round(cy * 16))), (int(round(ax * 16)), int(round(ay * 16))),
                0, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8, shift=4)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)  # distance to the nearest outside pixel
    t = np.clip((dist - 0.5) / f, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def _crop_mask(aligned: AlignedFace, S: int, feather: float) -> np.ndarray:
    if aligned.template is None:
        return feather_mask(S, feather)
    return face_mask(S, aligned.margin, aligned.template, feather)


def _scaled_matrix(aligned: AlignedFace, S: int) -> np.ndarray:
    M = aligned.matrix.astype(np.float64).copy()
    if S != aligned.size:
        k = S / aligned.size
        # a crop pixel centre c of the aligned size maps to c·k + (k-1)/2 in the S-sized crop
        M *= k
        M[:, 2] += (k - 1) / 2.0
    return M


def paste_region(photo_shape, aligned: AlignedFace, S: int | None = None):
    """``(x0, y0, x1, y1, Minv_roi)``: the photo rectangle that the crop covers and the crop → ROI map."""
    H, W = int(photo_shape[0]), int(photo_shape[1])
    S = S or aligned.size
    Minv = invert_matrix(_scaled_matrix(aligned, S))
    corners = apply_matrix(Minv, np.array([[-1, -1], [S, -1], [-1, S], [S, S]], np.float64))
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    R = Minv.copy()
    R[:, 2] -= (x0, y0)
    return x0, y0, x1, y1, R


def pasted_mask(photo_shape, aligned: AlignedFace, S: int | None = None, feather: float = 0.1) -> np.ndarray:
    """float32 [H, W]: the blend weight :func:`paste_back` uses (0 = photo pixel kept byte-identical)."""
    cv2 = _cv2()
    S = S or aligned.size
    H, W = int(photo_shape[0]), int(photo_shape[1])
    out = np.zeros((H, W), np.float32)
    x0, y0, x1, y1, R = paste_region(photo_shape, aligned, S)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = cv2.warpAffine(_crop_mask(aligned, S, feather), R, (x1 - x0, y1 - y0),
                                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out


BLENDS = ("residual", "feather", "seamless")


def paste_back(photo: np.ndarray, edited_crop: np.ndarray, aligned: AlignedFace, feather: float = 0.1,
               blend: str = "feather") -> np.ndarray:
    """Blend ``edited_crop`` (uint8, or float in [-1, 1]; any square size) back into ``photo``.

    The crop is warped with the inverse of ``aligned.matrix`` (rescaled when the crop size differs) into
    the bounding box of its footprint only, and mixed through the face mask (``blend="feather"``) or
    Poisson-blended inside it (``blend="seamless"``, ``cv2.seamlessClone``, then feathered at the rim).
    ``blend="residual"`` pastes only the *change*: photo + mask·warp(edited − ``aligned.crop``), so a pixel
    the edit left as it was keeps the photo's full resolution (a 64-px edit does not blur the whole face),
    and an unchanged crop returns the photo byte-identical. Wherever the warped mask is 0 the result equals
    ``photo`` exactly. Returns uint8 [H, W, 3].
    """
    cv2 = _cv2()
    photo = np.asarray(photo)
    photo = photo if photo.dtype == np.uint8 else to_uint8(photo)
    crop = np.asarray(edited_crop)
    crop = crop if crop.dtype == np.uint8 else to_uint8(crop)
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
        raise DataError(f"paste_back: edited crop must be square [S,S,3], got {list(crop.shape)}")
    if blend not in BLENDS:
        raise DataError(f"paste_back: blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    H, W = photo.shape[:2]
    if (H, W) != tuple(aligned.photo_shape) and aligned.photo_shape != (0, 0):
        raise DataError(f"paste_back: photo is {W}x{H} but the face was aligned on a "
                        f"{aligned.photo_shape[1]}x{aligned.photo_shape[0]} image")
    S = crop.shape[0]
    out = photo.copy()
    x0, y0, x1, y1, R = paste_region((H, W), aligned, S)
    if x1 <= x0 or y1 <= y0:
        return out
    size = (x1 - x0, y1 - y0)
    wmask = cv2.warpAffine(_crop_mask(aligned, S, feather), R, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    roi = photo[y0:y1, x0:x1]
    sel = wmask > 0
    if not sel.any():
        return out
    m = wmask[sel][:, None]
    region = out[y0:y1, x0:x1]
    if blend == "residual":
        base = np.asarray(aligned.crop)
        if base.shape[:2] != (S, S):
            base = cv2.resize(base, (S, S), interpolation=cv2.INTER_AREA)
        delta = crop.astype(np.float32) - base.astype(np.float32)
        wdelta = cv2.warpAffine(delta, R, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        region[sel] = np.clip(np.round(roi[sel].astype(np.float32) + wdelta[sel] * m), 0, 255).astype(np.uint8)
        return out
    wcrop = cv2.warpAffine(crop, R, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if blend == "seamless":
        wcrop = _seamless(wcrop, roi, sel)
    region[sel] = np.clip(np.round(roi[sel].astype(np.float32) * (1 - m) + wcrop[sel].astype(np.float32) * m),
                          0, 255).astype(np.uint8)
    return out


def _seamless(src: np.ndarray, dst: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Poisson-blend ``src`` into ``dst`` inside ``sel`` (both the same ROI); pixels outside ``sel`` are
    never used by the caller."""
    cv2 = _cv2()
    p = 2  # seamlessClone needs the mask off the image border
    src_p = cv2.copyMakeBorder(src, p, p, p, p, cv2.BORDER_REPLICATE)
    dst_p = cv2.copyMakeBorder(dst, p, p, p, p, cv2.BORDER_REPLICATE)
    mask = cv2.copyMakeBorder(sel.astype(np.uint8) * 255, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
    ys, xs = np.nonzero(mask)
    # seamlessClone places the mask's bounding box centred at `center` in dst: use the box's own centre
    centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
    try:
        out = cv2.seamlessClone(src_p, dst_p, mask, centre, cv2.NORMAL_CLONE)
    except cv2.error:
        return src
    return out[p:-p, p:-p]
