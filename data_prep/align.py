"""Face detection, eye alignment and paste-back for arbitrary photos (OpenCV Haar cascades).

Detection uses the Viola-Jones cascades bundled with ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``: ``haarcascade_frontalface_default.xml`` for the face,
``haarcascade_eye.xml`` then ``haarcascade_eye_tree_eyeglasses.xml`` for the eyes). OpenCV 5 wheels no
longer ship ``CascadeClassifier`` or the XML files, hence ``opencv-python-headless<5`` in setup.cfg.
(``cv2.FaceDetectorYN`` would need a YuNet ONNX file that no wheel ships.)

:func:`align_face`
    1. detect faces on the equalised grey image; photos larger than 1024 px are searched at reduced
       scale. If nothing is found, the image is padded by 25 % then 50 % of its size (edge replication)
       and searched again with a lower ``minNeighbors`` — tight face crops (e.g. aligned CelebA, where
       the face fills the frame) are only found with room around them. The largest face wins.
    2. find the eyes inside the upper 60 % of the face box (the best left/right pair of similar size);
       if no pair is found the eyes are assumed level at the canonical positions of the Haar box
       (``eyes_found=False``).
    3. similarity transform (``cv2.getRotationMatrix2D``) that rotates by the eye-line angle (eyes level),
       scales the square of side ``max(w, h)·(1 + 2·margin)`` around the face-box centre to ``size`` and
       translates it to the crop centre; ``cv2.warpAffine`` with edge replication produces the crop
       (large shrink factors are pre-shrunk with INTER_AREA to avoid aliasing).
    Raises :class:`NoFaceError` (a :class:`~caae_tf.errors.DataError`) naming the image.

:func:`paste_back`
    warps an edited crop back with the inverse transform and blends it through a feathered ellipse
    (a filled ellipse inset from the crop border, Gaussian-blurred) so the seam is invisible; pixels
    where the warped mask is 0 — everything outside the crop region — are returned unchanged, bit for bit.
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


@dataclass
class AlignedFace:
    """Result of :func:`align_face`."""

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
    """Eye-line angle in degrees that was removed."""
    photo_shape: tuple[int, int] = (0, 0)
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])


_CASCADES: dict[str, object] = {}


def _cv2():
    import cv2  # noqa: PLC0415

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


def align_face(rgb: np.ndarray, size: int = 256, margin: float = 0.25, *, path: str = "<image>",
               align_eyes: bool = True) -> AlignedFace:
    """Detect the largest face, level the eyes and crop a ``size``² square (module docstring).

    ``margin`` grows the detected box by that fraction of its size on every side before cropping.
    Raises :class:`NoFaceError` ("<path>: no face found").
    """
    cv2 = _cv2()
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"{path}: expected an RGB image [H,W,3], got shape {list(rgb.shape)}")
    boxes = detect_faces(rgb)
    if not boxes:
        raise NoFaceError(f"{path}: no face found")
    box = boxes[0]
    x, y, w, h = box
    eyes = detect_eyes(rgb, box) if align_eyes else None
    eyes_found = eyes is not None
    if eyes is None:  # canonical eye positions in a Haar frontal-face box
        eyes = np.array([[x + 0.3 * w, y + 0.38 * h], [x + 0.7 * w, y + 0.38 * h]], dtype=np.float64)
    dx, dy = eyes[1] - eyes[0]
    angle = math.degrees(math.atan2(dy, dx)) if eyes_found else 0.0
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * (1.0 + 2.0 * margin)
    s = size / side
    M = cv2.getRotationMatrix2D((cx, cy), angle, s)
    M[0, 2] += (size - 1) / 2.0 - cx
    M[1, 2] += (size - 1) / 2.0 - cy
    src, Ms = rgb, M
    if s < 0.5:  # pre-shrink with area averaging, then warp with the matrix for the shrunk image
        k = 2.0 * s
        src = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        kx, ky = src.shape[1] / rgb.shape[1], src.shape[0] / rgb.shape[0]
        Ms = M.copy()
        Ms[:, 0] /= kx
        Ms[:, 1] /= ky
    crop = cv2.warpAffine(src, Ms, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop=crop, matrix=M, box=tuple(int(v) for v in box), eyes=eyes, eyes_found=eyes_found,
                       angle=float(angle), photo_shape=(int(rgb.shape[0]), int(rgb.shape[1])))


def feather_mask(size: int, feather: float = 0.1) -> np.ndarray:
    """float32 [size, size] in [0, 1]: a filled ellipse inset from the border, Gaussian-blurred so it
    reaches exactly 0 before the crop border (``feather`` = blur width as a fraction of ``size``)."""
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


def paste_back(photo: np.ndarray, edited_crop: np.ndarray, aligned: AlignedFace, feather: float = 0.1) -> np.ndarray:
    """Blend ``edited_crop`` (uint8, or float in [-1, 1]; any square size) back into ``photo``.

    The crop is warped with the inverse of ``aligned.matrix`` (rescaled when the crop size differs) and
    mixed through :func:`feather_mask`; outside the mask's support the result equals ``photo`` exactly.
    Returns uint8 [H, W, 3].
    """
    cv2 = _cv2()
    photo = np.asarray(photo)
    photo = photo if photo.dtype == np.uint8 else to_uint8(photo)
    crop = np.asarray(edited_crop)
    crop = crop if crop.dtype == np.uint8 else to_uint8(crop)
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
        raise DataError(f"paste_back: edited crop must be square [S,S,3], got {list(crop.shape)}")
    H, W = photo.shape[:2]
    if (H, W) != tuple(aligned.photo_shape) and aligned.photo_shape != (0, 0):
        raise DataError(f"paste_back: photo is {W}x{H} but the face was aligned on a "
                        f"{aligned.photo_shape[1]}x{aligned.photo_shape[0]} image")
    S = crop.shape[0]
    k = S / aligned.size
    M = aligned.matrix.copy()
    if S != aligned.size:
        # a crop pixel centre c of the aligned size maps to c·k + (k-1)/2 in the S-sized crop
        M *= k
        M[:, 2] += (k - 1) / 2.0
    Minv = cv2.invertAffineTransform(M)
    mask = feather_mask(S, feather)
    wmask = cv2.warpAffine(mask, Minv, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0)
    wcrop = cv2.warpAffine(crop, Minv, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = photo.copy()
    sel = wmask > 0
    m = wmask[sel][:, None]
    out[sel] = np.clip(np.round(photo[sel].astype(np.float32) * (1 - m) + wcrop[sel].astype(np.float32) * m),
                       0, 255).astype(np.uint8)
    return out
