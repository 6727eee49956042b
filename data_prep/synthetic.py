"""Synthetic affect faces: a deterministic procedural renderer with continuous (valence, arousal).

Every image is a frontal, cartoon-like but face-shaped portrait (background with a lighting gradient,
shoulders, neck, ears, head, hair, eyes with iris/pupil, brows, nose, lips, optional glasses) drawn with
OpenCV polygons at a supersampled resolution (anti-aliased with ``cv2.LINE_AA`` and sub-pixel
coordinates), then downscaled with ``cv2.INTER_AREA`` to any square size (64, 96, 128, 256, ...). The
output is RGB ``uint8 [S, S, 3]``. It exists so that the CAAE, the cGAN and the VA regressors can be
trained and tested end-to-end where no licensed affect data set is available, with labels that are
correct by construction.

Identity
--------
:func:`sample_identity` draws an :class:`IdentityFactors` once per ``(seed, identity)`` (a
``numpy.random.SeedSequence([seed, 0x1D, identity])``); every expression of that identity uses the
same factors: face width/length/squareness/jaw taper, skin tone, hair colour, hair style (short,
side_part, long, bangs, curly, buzz) and volume, hairline, eye colour, size, spacing and tilt, nose
length/width, mouth width, lip thickness/colour, brow thickness/arch, optional glasses (round or
rectangular, colour), shirt colour, two background colours, lighting direction and strength. Identity
indices are plain integers, so a held-out set is simply another range of indices
(``generate_dataset(..., first_identity=K)``).

Expression: how (valence, arousal) ∈ [-1, 1]² drive the face
----------------------------------------------------------
The mapping follows the facial-EMG/FACS correlates of affect: valence is carried mostly by zygomaticus
major (lip-corner pull, AU12) vs. depressor anguli oris (AU15) and by corrugator supercilii (brow
lowerer, AU4) — Larsen, Norris & Cacioppo (2003), Psychophysiology 40(5):776-785 — and arousal by the
upper-lid raiser (AU5), the brow raisers (AU1+2) and jaw drop (AU26/27). With ``u = (a + 1) / 2`` and
``ew`` the identity's eye half-width, all quantities in units of the image side:

=======================  ===========================================================================
cue                      formula (continuous in v and a)
=======================  ===========================================================================
mouth-corner height      corners ``0.05·v·(mouth_width/0.07)`` above (v>0, smile) or below (v<0,
                         frown) the mouth centre; the lip line is the parabola through them
mouth width              ``mouth_width·(1 + 0.15·v − 0.08·max(a, 0))`` (smiles widen)
mouth opening            ``0.062·u^1.6`` (closed at a = −1, parted at 0, wide open at +1); upper teeth
                         show inside the opening
inner-brow tilt          inner brow ends raised ``0.30·v·ew`` for v>0, lowered ``0.70·|v|·ew`` and
                         drawn ``0.15·|v|·ew`` towards the midline for v<0 (outer ends move by −0.3×)
brow height              brow centre ``(1.2 + 0.95·u)·ew`` above the eye line
eye opening              upper lid ``(0.14 + 0.72·u)·ew`` above, lower lid ``(0.30 − 0.08·max(v,0))·ew``
                         below the eye line (white shows above the iris at high arousal)
smile/frown lines        nasolabial folds with opacity ``0.55·max(v,0)``; mouth-corner lines with
                         opacity ``0.45·max(−v,0)``
=======================  ===========================================================================

Per-image jitter (``jitter=True``, drawn from the per-image seed): the whole drawing is scaled by
U(0.97, 1.03) and shifted by U(−0.02, 0.02)·S on each axis (applied to the polygon coordinates, so no
resampling blur), and Gaussian pixel noise with σ = 2.5 (of 255) is added, so a model cannot memorise
pixels. ``jitter=False`` renders the canonical, noise-free face (used by tests and the contact sheet).

Data set modes (:func:`generate_dataset`)
-----------------------------------------
* ``continuous``: (v, a) ~ Uniform([−1, 1]²) per image; the ``emotion`` column holds the *nearest*
  circumplex emotion (Euclidean distance to :func:`caae_tf.labels.circumplex_va` over
  :data:`caae_tf.labels.ALL_EMOTIONS`) — a coarse descriptive tag, not a class label.
* ``discrete``: image ``k`` of an identity shows ``emotions[k % len(emotions)]`` (balanced classes),
  at its circumplex point plus N(0, 0.03) label noise, clipped to [−1, 1]. Default emotions are the six
  cGAN classes :data:`caae_tf.labels.CGAN_EMOTIONS`.

Valence and arousal are rounded to 4 decimals *before* rendering, so ``labels.csv`` holds exactly the
values the image was drawn from. Files are ``images/id{identity:04d}_{k:04d}.png`` written with
``cv2.imwrite`` at a fixed PNG compression level: the same seed gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterable, Sequence

import numpy as np

from caae_tf import labels as _labels

#: Hair styles an identity can have.
HAIR_STYLES: tuple[str, ...] = ("short", "side_part", "long", "bangs", "curly", "buzz")
#: Columns of ``labels.csv`` (the project's generic labelled CSV).
CSV_COLUMNS: tuple[str, ...] = ("path", "identity", "valence", "arousal", "emotion")
#: Standard deviation of the label noise in discrete mode.
DISCRETE_LABEL_NOISE = 0.03
#: Pixel-noise σ (0-255 scale) when jitter is on.
PIXEL_NOISE_SIGMA = 2.5

_SKIN_TONES = np.array([
    (255, 226, 204), (246, 207, 180), (236, 188, 150), (224, 170, 130), (200, 145, 105),
    (170, 115, 80), (136, 88, 58), (105, 68, 45),
], dtype=np.float64)
_HAIR_COLOURS = np.array([
    (28, 24, 24), (62, 40, 28), (100, 66, 40), (135, 62, 32), (196, 160, 96),
    (226, 204, 150), (150, 148, 146), (182, 92, 44),
], dtype=np.float64)
_EYE_COLOURS = np.array([
    (92, 56, 30), (55, 34, 20), (120, 98, 46), (74, 122, 70), (64, 112, 170), (112, 128, 146),
], dtype=np.float64)


# ------------------------------------------------------------------------------------------ identity

@dataclasses.dataclass(frozen=True)
class IdentityFactors:
    """Everything that makes an identity; fixed across all of its expressions.

    Lengths are fractions of the image side; colours are RGB floats in [0, 255].
    """

    identity: int
    seed: int
    face_width: float          # half-width of the head at the cheekbones
    face_length: float         # eye line → chin
    cranium: float             # eye line → top of the skull
    squareness: float          # super-ellipse exponent of the lower face (2 = oval, 3 = square)
    jaw_taper: float           # how much the jaw narrows towards the chin
    skin: tuple[float, float, float]
    hair_color: tuple[float, float, float]
    hair_style: str
    hair_volume: float
    hairline: float            # forehead hairline height as a fraction of the cranium
    hair_part: float           # −1..1 side of the parting / swoop
    eye_color: tuple[float, float, float]
    eye_spacing: float         # eye centre distance from the midline
    eye_size: float            # eye half-width (ew)
    eye_tilt: float            # radians, outer corners up (>0)
    nose_length: float         # eye line → nose tip
    nose_width: float
    mouth_gap: float           # nose tip → mouth centre
    mouth_width: float         # mouth half-width at neutral
    lip_thickness: float
    lip_color: tuple[float, float, float]
    brow_thickness: float
    brow_arch: float
    glasses: bool
    glasses_round: bool
    glasses_color: tuple[float, float, float]
    shirt_color: tuple[float, float, float]
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    light_angle: float         # radians; direction the light comes from (image coordinates)
    light_strength: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _rgb(x) -> tuple[float, float, float]:
    return tuple(float(np.clip(c, 0, 255)) for c in x)  # type: ignore[return-value]


def _luma(rgb) -> float:
    r, g, b = (float(c) for c in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array([r, g, b]) * 255.0


def sample_identity(seed: int, identity: int) -> IdentityFactors:
    """Draw the identity factors of identity ``identity`` under ``seed`` (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x1D, int(identity)]))
    u = rng.uniform

    k = u(0, len(_SKIN_TONES) - 1)
    i0 = int(k)
    skin = _SKIN_TONES[i0] * (1 - (k - i0)) + _SKIN_TONES[min(i0 + 1, len(_SKIN_TONES) - 1)] * (k - i0)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * u(0.85, 1.15)
    eye = _EYE_COLOURS[rng.integers(len(_EYE_COLOURS))] * u(0.85, 1.15)
    eye = eye * min(1.0, 0.5 * _luma(skin) / _luma(eye))  # irises read darker than the skin around them
    style = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    lip = skin * np.array([0.80, 0.50, 0.52]) + np.array([40.0, 8.0, 12.0]) * u(0.6, 1.2)

    bg_h = u(0, 1)
    bg_s = u(0.15, 0.55)
    bg0 = _hsv_to_rgb(bg_h, bg_s, u(0.70, 0.95))
    bg1 = _hsv_to_rgb((bg_h + u(-0.08, 0.08)) % 1.0, bg_s * u(0.6, 1.2), u(0.35, 0.65))
    shirt = _hsv_to_rgb(u(0, 1), u(0.2, 0.8), u(0.25, 0.85))
    glasses = bool(u() < 0.3)
    nose_length = u(0.125, 0.165)
    mouth_gap = u(0.068, 0.085)
    return IdentityFactors(
        identity=int(identity),
        seed=int(seed),
        face_width=u(0.205, 0.265),
        face_length=nose_length + mouth_gap + u(0.10, 0.13),
        cranium=u(0.265, 0.30),
        squareness=u(1.9, 2.9),
        jaw_taper=u(0.05, 0.35),
        skin=_rgb(skin),
        hair_color=_rgb(hair),
        hair_style=style,
        hair_volume=u(0.6, 1.4),
        hairline=u(0.50, 0.70),
        hair_part=u(-1, 1),
        eye_color=_rgb(eye),
        eye_spacing=u(0.082, 0.104),
        eye_size=u(0.036, 0.046),
        eye_tilt=u(-0.08, 0.12),
        nose_length=nose_length,
        nose_width=u(0.024, 0.038),
        mouth_gap=mouth_gap,
        mouth_width=u(0.058, 0.076),
        lip_thickness=u(0.012, 0.02),
        lip_color=_rgb(lip),
        brow_thickness=u(0.009, 0.02),
        brow_arch=u(0.1, 0.45),
        glasses=glasses,
        glasses_round=bool(u() < 0.5),
        glasses_color=_rgb(_HAIR_COLOURS[rng.integers(4)] * 0.7 if u() < 0.7 else _hsv_to_rgb(u(), 0.6, 0.6)),
        shirt_color=_rgb(shirt),
        background=(_rgb(bg0), _rgb(bg1)),
        light_angle=u(-math.pi, math.pi),
        light_strength=u(0.05, 0.2),
    )


# ------------------------------------------------------------------------------------------ painter

def _cv2():
    import cv2

    return cv2


_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


def _colour(c) -> tuple[float, ...]:
    return (float(c),) if np.isscalar(c) else tuple(float(x) for x in c)


class _Painter:
    """Draws polygons given in image-side units on a supersampled canvas (with the jitter transform)."""

    def __init__(self, canvas: int, scale: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)):
        self.cv2 = _cv2()
        self.C = canvas
        self.s = scale * ZOOM
        self.t = np.asarray(offset, dtype=np.float64)
        self.img = np.zeros((canvas, canvas, 3), np.uint8)
        self._origin = np.zeros(2, np.int32)  # top-left of the sub-image being drawn on (pixels)

    def to_px(self, pts) -> np.ndarray:
        q = np.round(layout_to_image(pts, self.s / ZOOM, self.t) * (self.C * _ONE) - _ONE / 2).astype(np.int32)
        return q - self._origin * _ONE

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.s * self.C)))

    def fill(self, pts, color, img=None) -> None:
        self.cv2.fillPoly(self.img if img is None else img, [self.to_px(pts)], _colour(color),
                          self.cv2.LINE_AA, _SHIFT)

    def stroke(self, pts, color, width: float, closed: bool = False, img=None) -> None:
        self.cv2.polylines(self.img if img is None else img, [self.to_px(pts)], closed, _colour(color),
                           self.width(width), self.cv2.LINE_AA, _SHIFT)

    def _bbox(self, pts, pad: float = 0.02):
        q = self.to_px(pts) / _ONE
        padp = pad * self.s * self.C + 2
        x0 = int(max(0, math.floor(q[:, 0].min() - padp)))
        x1 = int(min(self.C, math.ceil(q[:, 0].max() + padp)))
        y0 = int(max(0, math.floor(q[:, 1].min() - padp)))
        y1 = int(min(self.C, math.ceil(q[:, 1].max() + padp)))
        return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))

    def _local(self, ys, xs, draw, channels: int):
        """Run ``draw(sub_image)`` on a zero/copy sub-image of the region with coordinates shifted to it."""
        if channels == 3:
            sub = self.img[ys, xs].copy()
        else:
            sub = np.zeros((ys.stop - ys.start, xs.stop - xs.start), np.uint8)
        self._origin = np.array([xs.start, ys.start], np.int32)
        try:
            draw(sub)
        finally:
            self._origin = np.zeros(2, np.int32)
        return sub

    def _clip_weights(self, ys, xs, clip) -> np.ndarray:
        return self._local(ys, xs, lambda m: self.fill(clip, 255, m), 1).astype(np.float32) / 255.0

    def _blend(self, ys, xs, over, w) -> None:
        """img[region] ← over·w + img·(1−w); ``over`` uint8 image or colour, ``w`` scalar or float32 map."""
        base = np.ascontiguousarray(self.img[ys, xs])
        if not isinstance(over, np.ndarray) or over.ndim == 1:
            colour = np.asarray(over, np.float32).round().astype(np.uint8)
            over = np.empty_like(base)
            over[:] = colour
        if np.isscalar(w):
            self.img[ys, xs] = self.cv2.addWeighted(over, float(w), base, 1.0 - float(w), 0.0)
        else:
            w = np.ascontiguousarray(w, np.float32)
            self.img[ys, xs] = self.cv2.blendLinear(over, base, w, 1.0 - w)

    def soft(self, draw_mask, color, alpha: float, blur: float, region_pts, clip=None) -> None:
        """Blend ``color`` through a Gaussian-blurred mask drawn by ``draw_mask(mask_uint8)`` (soft shading),
        optionally multiplied by the anti-aliased mask of polygon ``clip``."""
        if alpha <= 0.0:
            return
        ys, xs = self._bbox(region_pts, 2.5 * blur)
        if ys.stop <= ys.start or xs.stop <= xs.start:
            return
        mask = self._local(ys, xs, draw_mask, 1)
        k = max(3, int(round(blur * self.s * self.C)) | 1)
        w = self.cv2.GaussianBlur(mask, (k, k), 0).astype(np.float32) * (np.float32(alpha) / 255.0)
        if clip is not None:
            w *= self._clip_weights(ys, xs, clip)
        self._blend(ys, xs, np.asarray(color, np.float32), w)

    def layer(self, draw, alpha: float, region_pts, clip=None, pad: float = 0.02) -> None:
        """Draw with ``draw(img)`` on a copy and blend it in with opacity ``alpha``, optionally clipped to a
        polygon ``clip`` (anti-aliased mask)."""
        if alpha <= 0.0:
            return
        ys, xs = self._bbox(region_pts if clip is None else clip, pad)
        if ys.stop <= ys.start or xs.stop <= xs.start:
            return
        over = self._local(ys, xs, draw, 3)
        w = float(min(alpha, 1.0))
        if clip is not None:
            w = self._clip_weights(ys, xs, clip) * np.float32(w)
        self._blend(ys, xs, over, w)


def _ellipse(cx, cy, rx, ry, n: int = 48, t0: float = 0.0, t1: float = 2 * math.pi) -> np.ndarray:
    t = np.linspace(t0, t1, n, endpoint=(t1 - t0) < 2 * math.pi - 1e-9)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _spow(x, p):
    return np.sign(x) * np.abs(x) ** p


def _superellipse(cx, cy, rx, ry, n_exp: float, m: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, m, endpoint=False)
    return np.stack([cx + rx * _spow(np.cos(t), 2 / n_exp), cy + ry * _spow(np.sin(t), 2 / n_exp)], axis=1)


def _bezier(p0, p1, p2, n: int = 16) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _rotate(pts: np.ndarray, centre, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    d = pts - np.asarray(centre)
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1) + np.asarray(centre)


def _shade(color, k: float) -> np.ndarray:
    return np.clip(np.asarray(color, dtype=np.float64) * k, 0, 255)


def _mix(c0, c1, t: float) -> np.ndarray:
    return np.asarray(c0, dtype=np.float64) * (1 - t) + np.asarray(c1, dtype=np.float64) * t


# ------------------------------------------------------------------------------------------ geometry

CX = 0.5      # face midline
EYE_Y = 0.455  # eye line in layout units
#: The layout is magnified by ZOOM about (0.5, ZOOM_CENTRE_Y) so that the head fills the frame like an
#: aligned face crop (eyes at ≈ 0.45, mouth at ≈ 0.73, head ≈ 55 % of the width).
ZOOM = 1.2
ZOOM_CENTRE_Y = 0.45


def layout_to_image(pts, scale: float = 1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Map layout coordinates (as returned by :func:`face_geometry`) to image coordinates in [0, 1]
    (multiply by the image size for pixels), for an image drawn with jitter ``scale``/``offset``."""
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    c = np.array([0.5, ZOOM_CENTRE_Y])
    return c + scale * ZOOM * (p - c) + np.asarray(offset, dtype=np.float64)


def face_geometry(f: IdentityFactors, valence: float, arousal: float) -> dict[str, object]:
    """Expression-dependent key geometry in image-side units (no jitter): eye, brow and mouth shapes.

    Returned keys: ``eyes`` (list of dicts with ``centre``, ``outline``, ``upper``, ``lower``), ``brows``
    (list of centre-lines), ``mouth`` (dict with ``centre``, ``corners``, ``upper_outer``,
    ``upper_inner``, ``lower_inner``, ``lower_outer``, ``width``, ``open``), ``nose_tip`` (x, y).
    """
    v = float(np.clip(valence, -1.0, 1.0))
    a = float(np.clip(arousal, -1.0, 1.0))
    u = (a + 1.0) / 2.0
    pos, neg = max(v, 0.0), max(-v, 0.0)
    ew = f.eye_size

    eyes = []
    brows = []
    up = (0.14 + 0.72 * u) * ew
    lo = (0.30 - 0.08 * pos) * ew
    xs = np.sin(np.linspace(-math.pi / 2, math.pi / 2, 17))  # -1..1, denser at the corners
    for side in (-1, 1):  # -1 = image left
        ex = CX + side * f.eye_spacing
        prof_u = (1 - xs ** 2) ** 0.8
        prof_l = (1 - xs ** 2) ** 0.9
        # the upper lid peaks towards the inner corner (almond shape); eye_tilt rotates the outer corner up
        upper = np.stack([ex + ew * xs, EYE_Y - up * prof_u * (1 - 0.25 * xs * side)], axis=1)
        lower = np.stack([ex + ew * xs, EYE_Y + lo * prof_l], axis=1)
        ang = -side * f.eye_tilt  # rotate so that the outer corner rises
        upper = _rotate(upper, (ex, EYE_Y), ang)
        lower = _rotate(lower, (ex, EYE_Y), ang)
        outline = np.concatenate([upper, lower[::-1]], axis=0)
        eyes.append({"centre": (ex, EYE_Y), "outline": outline, "upper": upper, "lower": lower,
                     "up": up, "lo": lo})

        # brows: inner end (towards the midline) and outer end around a centre above the eye
        hb = (1.2 + 0.95 * u) * ew
        tilt = (0.30 * pos - 0.70 * neg) * ew  # inner end up (+) or down (−)
        inner = (ex - side * ew * (1.0 - 0.15 * neg), EYE_Y - hb - tilt)
        outer = (ex + side * ew * 1.3, EYE_Y - hb + 0.3 * tilt + 0.15 * ew)
        mid = (ex + side * 0.15 * ew, EYE_Y - hb - f.brow_arch * ew - 0.5 * tilt * 0.3)
        brows.append(_bezier(inner, mid, outer, 14))

    tip = (CX, EYE_Y + f.nose_length)
    my = tip[1] + f.mouth_gap
    mw = f.mouth_width * (1 + 0.15 * v - 0.08 * max(a, 0.0))
    lift = 0.05 * v * (f.mouth_width / 0.07)
    opening = 0.062 * u ** 1.6
    xs = np.sin(np.linspace(-math.pi / 2, math.pi / 2, 25))
    centre_line = my - lift * np.abs(xs) ** 2
    prof = (1 - xs ** 2) ** 0.7
    ui = centre_line - opening * 0.30 * prof
    li = centre_line + opening * 0.70 * prof
    bow = 1 - 0.28 * np.exp(-(xs / 0.2) ** 2)
    uo = ui - f.lip_thickness * 0.85 * (1 - xs ** 2) ** 0.5 * bow
    lo_ = li + f.lip_thickness * 1.15 * (1 - xs ** 2) ** 0.6
    X = CX + mw * xs
    mouth = {
        "centre": (CX, my),
        "corners": ((CX - mw, my - lift), (CX + mw, my - lift)),
        "upper_outer": np.stack([X, uo], 1),
        "upper_inner": np.stack([X, ui], 1),
        "lower_inner": np.stack([X, li], 1),
        "lower_outer": np.stack([X, lo_], 1),
        "width": mw,
        "open": opening,
        "lift": lift,
    }
    return {"eyes": eyes, "brows": brows, "mouth": mouth, "nose_tip": tip, "valence": v, "arousal": a}


def _head_outline(f: IdentityFactors, m: int = 72) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, m, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    lower = s > 0
    n = np.where(lower, f.squareness, 2.1)
    x = f.face_width * _spow(c, 2 / n) * (1 - f.jaw_taper * np.clip(s, 0, None) ** 2)
    y = np.where(lower, f.face_length, f.cranium) * _spow(s, 2 / n)
    return np.stack([CX + x, EYE_Y + y], axis=1)


# ------------------------------------------------------------------------------------------ drawing

def _draw_background(f: IdentityFactors, C: int) -> np.ndarray:
    """Two-colour gradient away from the light, with a vignette (smooth: drawn at 64 px and upscaled)."""
    n = 64
    g = (np.arange(n, dtype=np.float32) + 0.5) / n - 0.5
    X, Y = np.meshgrid(g, g)
    d = (-math.cos(f.light_angle), -math.sin(f.light_angle))  # away from the light
    t = np.clip(0.5 + (X * d[0] + Y * d[1]) * 1.1, 0, 1)[..., None]
    c0 = np.asarray(f.background[0], np.float32)
    c1 = np.asarray(f.background[1], np.float32)
    bg = c0 * (1 - t) + c1 * t
    bg *= (1.0 - 0.25 * (X ** 2 + Y ** 2))[..., None]
    return _cv2().resize(bg, (C, C), interpolation=_cv2().INTER_LINEAR).clip(0, 255).round().astype(np.uint8)


def _hair_shapes(f: IdentityFactors):
    """(polygon behind the head or None, polygon in front of it) for the identity's hair style."""
    fw, cr = f.face_width, f.cranium
    vol = f.hair_volume
    style = f.hair_style
    vx = {"short": 0.018, "side_part": 0.022, "long": 0.024, "bangs": 0.022, "curly": 0.05, "buzz": 0.006}[style] * vol
    vy = {"short": 0.045, "side_part": 0.055, "long": 0.045, "bangs": 0.05, "curly": 0.085, "buzz": 0.012}[style] * vol
    temple_y = EYE_Y - 0.035
    t = np.linspace(math.pi + 0.12, 2 * math.pi - 0.12, 48)
    rx, ry = fw + vx, cr + vy
    r = np.ones_like(t)
    if style == "curly":
        r = 1 + 0.045 * np.abs(np.sin(11 * (t - math.pi)))
    outer = np.stack([CX + rx * r * np.cos(t), EYE_Y + 0.01 + ry * r * np.sin(t)], axis=1)
    # inner hairline (right temple → apex → left temple)
    hair_h = cr * (1 - f.hairline) + 0.035
    apex_y = EYE_Y - cr + hair_h
    th = np.linspace(0, math.pi, 40)
    sw = f.hair_part
    if style == "bangs":
        apex_y = EYE_Y - 0.12 - 0.012 * (vol - 1)
        hx = fw * 0.97 * np.cos(th)
        hy = temple_y - (temple_y - apex_y) * _spow(np.sin(th), 0.25) + 0.006 * np.abs(np.sin(14 * th))
    elif style == "side_part":
        hx = fw * 0.97 * np.cos(th)
        swoop = 1 - 0.55 * np.clip(np.cos(th) * np.sign(sw), 0, None) ** 1.5
        hy = temple_y - (temple_y - apex_y) * np.sin(th) ** 0.7 * swoop
    elif style == "curly":
        hx = fw * 0.97 * np.cos(th)
        hy = temple_y - (temple_y - apex_y) * np.sin(th) ** 0.6 + 0.008 * np.abs(np.sin(9 * th))
    else:
        hx = fw * 0.97 * np.cos(th)
        hy = temple_y - (temple_y - apex_y) * np.sin(th) ** 0.6
    hairline = np.stack([CX + hx, hy], axis=1)  # right temple → left temple
    front = np.concatenate([outer, hairline], axis=0)  # outer runs left → right over the top

    back = None
    if style == "long":
        bottom = EYE_Y + f.face_length + 0.04
        w = fw + vx + 0.025
        top = np.stack([CX + (rx + 0.012) * np.cos(t), EYE_Y + 0.01 + (ry + 0.01) * np.sin(t)], 1)
        right = _bezier(top[-1], (CX + w + 0.03, EYE_Y + 0.15), (CX + w + 0.035, bottom), 12)
        hem = np.stack([np.linspace(CX + w + 0.035, CX - w - 0.035, 15),
                        bottom - 0.012 * np.abs(np.sin(np.linspace(0, 3 * math.pi, 15)))], 1)
        left = _bezier((CX - w - 0.035, bottom), (CX - w - 0.03, EYE_Y + 0.15), top[0], 12)
        back = np.concatenate([top, right, hem, left], axis=0)
    elif style == "curly":
        back = np.stack([CX + (rx + 0.01) * (1 + 0.05 * np.abs(np.sin(13 * t))) * np.cos(t),
                         EYE_Y + 0.05 + (ry + 0.02) * (1 + 0.05 * np.abs(np.sin(13 * t))) * np.sin(t)], 1)
        back = np.concatenate([back, [[CX + fw * 0.9, EYE_Y + 0.12], [CX - fw * 0.9, EYE_Y + 0.12]]], 0)
    return back, front


def render_face(
    factors: IdentityFactors,
    valence: float,
    arousal: float,
    size: int = 96,
    rng_or_seed: np.random.Generator | int | None = None,
    *,
    jitter: bool = True,
    supersample: int | None = None,
) -> np.ndarray:
    """Render one face of identity ``factors`` with expression (valence, arousal) as RGB uint8 [S, S, 3].

    Valence and arousal are clipped to [-1, 1]. ``rng_or_seed`` (a ``numpy.random.Generator`` or an int
    seed; ``None`` = seed 0) drives the per-image jitter and pixel noise; with ``jitter=False`` the
    canonical image is drawn and it is unused. The
    drawing is made at ``size·supersample`` (default: enough for a ≥ 320 px canvas, at least 2×) and
    area-downscaled.

    The drawing steps, back to front: :func:`_draw_background`, :func:`_draw_hair_back`,
    :func:`_draw_shoulders_and_neck`, :func:`_draw_ears`, :func:`_draw_head`, :func:`_draw_hair_front`,
    :func:`_draw_nose`, :func:`_draw_mouth`, :func:`_draw_eyes`, :func:`_draw_brows`, :func:`_draw_glasses`;
    then :func:`_downscale_and_light` (area downscale, directional lighting, pixel noise).
    """
    size = int(size)
    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    f = factors
    if isinstance(rng_or_seed, np.random.Generator):
        rng = rng_or_seed
    else:
        rng = np.random.default_rng(0 if rng_or_seed is None else int(rng_or_seed))
    if jitter:
        scale = float(rng.uniform(0.97, 1.03))
        offset = (float(rng.uniform(-0.02, 0.02)), float(rng.uniform(-0.02, 0.02)))
    else:
        scale, offset = 1.0, (0.0, 0.0)
    ss = supersample or min(6, max(2, int(round(300 / size))))
    C = size * ss
    P = _Painter(C, scale, offset)
    P.img[:] = _draw_background(f, C)
    geo = face_geometry(f, valence, arousal)
    back, front = _hair_shapes(f)
    _draw_hair_back(P, f, back)
    _draw_shoulders_and_neck(P, f)
    _draw_ears(P, f)
    _draw_head(P, f)
    _draw_hair_front(P, f, front)
    _draw_nose(P, f, geo)
    _draw_mouth(P, f, geo)
    _draw_eyes(P, f, geo)
    _draw_brows(P, f, geo)
    _draw_glasses(P, f, geo)
    return _downscale_and_light(P.img, f, size, rng if jitter else None)


def _skin_shades(f: IdentityFactors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(skin, the darker shade of creases and shadows, the line colour of folds and lids)."""
    skin = np.asarray(f.skin)
    return skin, _shade(skin, 0.78), _shade(skin, 0.58)


def _draw_hair_back(P: _Painter, f: IdentityFactors, back) -> None:
    """The hair behind the head (long and curly styles; ``back`` from :func:`_hair_shapes`)."""
    if back is not None:
        P.fill(back, _shade(np.asarray(f.hair_color), 0.85))


def _draw_shoulders_and_neck(P: _Painter, f: IdentityFactors) -> None:
    """Shoulders in the shirt colour, the neck with the collar line and the chin's shadow on it."""
    skin = np.asarray(f.skin)
    fw = f.face_width
    chin_y = EYE_Y + f.face_length
    shirt = np.asarray(f.shirt_color)
    P.fill(_ellipse(CX, 1.08, 0.44, 0.24, 48), shirt)
    neck_w = fw * 0.48
    neck = np.concatenate([
        [[CX - neck_w, chin_y - 0.12], [CX + neck_w, chin_y - 0.12]],
        _ellipse(CX, chin_y + 0.09, neck_w * 1.05, 0.045, 16, 0, math.pi),
    ], 0)
    P.fill(neck, _shade(skin, 0.8))
    P.stroke(_ellipse(CX, chin_y + 0.09, neck_w * 1.05, 0.045, 16, 0.15, math.pi - 0.15), _shade(shirt, 0.7), 0.008)
    # shadow under the chin on the neck
    P.soft(lambda mk: P.fill(_ellipse(CX, chin_y + 0.005, fw * 0.55, 0.03, 24), 255, mk), _shade(skin, 0.55), 0.5,
           0.02, neck, clip=neck)


def _draw_ears(P: _Painter, f: IdentityFactors) -> None:
    """Both ears with their inner shadow (hidden by long hair: not drawn)."""
    if f.hair_style == "long":
        return
    skin = np.asarray(f.skin)
    for side in (-1, 1):
        ec = (CX + side * f.face_width * 0.97, EYE_Y + 0.035)
        P.fill(_ellipse(ec[0], ec[1], 0.03, 0.058, 24), _shade(skin, 0.93))
        P.fill(_ellipse(ec[0] + side * 0.006, ec[1] + 0.004, 0.014, 0.035, 16), _shade(skin, 0.75))


def _draw_head(P: _Painter, f: IdentityFactors) -> None:
    """The head in skin colour, with a soft shadow on the side away from the light and a soft highlight."""
    skin = np.asarray(f.skin)
    fw = f.face_width
    head = _head_outline(f)
    P.fill(head, skin)
    la = f.light_angle
    dark_side = head + np.array([-0.03 * math.cos(la), -0.02 * math.sin(la)])
    P.soft(lambda mk: P.stroke(dark_side, 255, 0.05, closed=True, img=mk), _shade(skin, 0.72), 0.6, 0.035,
           head, clip=head)
    hl = _ellipse(CX + 0.3 * fw * math.cos(la), EYE_Y + 0.04 + 0.2 * fw * math.sin(la), fw * 0.45,
                  f.face_length * 0.45, 32)
    P.soft(lambda mk: P.fill(hl, 255, mk), _shade(skin, 1.1), 0.45, 0.05, head, clip=head)


def _draw_hair_front(P: _Painter, f: IdentityFactors, front) -> None:
    """The hair over the head (``front`` from :func:`_hair_shapes`): translucent for a buzz cut, else solid with a
    parting line (short, side_part, long); long hair adds a lock down each side of the face."""
    hair = np.asarray(f.hair_color)
    fw = f.face_width
    if f.hair_style == "buzz":
        P.layer(lambda img: P.fill(front, hair, img), 0.7, front)
    else:
        P.fill(front, hair)
        if f.hair_style in ("short", "side_part", "long"):
            part_x = CX + 0.45 * f.hair_part * fw
            top_y = EYE_Y - f.cranium - 0.02
            P.layer(lambda img: P.stroke([[part_x, top_y + 0.01], [part_x + 0.01 * f.hair_part, top_y + 0.07]],
                                         _shade(hair, 0.6), 0.006, img=img), 0.6, front)
    if f.hair_style == "long":
        for side in (-1, 1):
            inner = _bezier((CX + side * fw * 0.55, EYE_Y - 0.12), (CX + side * fw * 1.0, EYE_Y - 0.02),
                            (CX + side * fw * 0.98, EYE_Y + 0.2), 14)
            outer = _bezier((CX + side * (fw + 0.045), EYE_Y + 0.21), (CX + side * (fw + 0.05), EYE_Y),
                            (CX + side * (fw + 0.01), EYE_Y - 0.1), 14)
            P.fill(np.concatenate([inner, outer], 0), hair)
            P.layer(lambda img, c=inner: P.stroke(c, _shade(hair, 0.6), 0.005, img=img), 0.5, inner)


def _draw_nose(P: _Painter, f: IdentityFactors, geo: dict) -> None:
    """The shadow under the tip, the bridge's shadow on the side away from the light, wings and nostrils."""
    skin, skin_dark, skin_line = _skin_shades(f)
    tip_x, tip_y = geo["nose_tip"]
    nw = f.nose_width
    shadow_side = 1 if math.cos(f.light_angle) < 0 else -1  # side away from the light
    P.layer(lambda img: P.fill(_ellipse(tip_x, tip_y + 0.014, nw * 1.05, 0.008, 24), skin_dark, img), 0.45,
            [[tip_x - nw * 1.2, tip_y], [tip_x + nw * 1.2, tip_y + 0.03]])
    bridge = _bezier((CX + shadow_side * 0.014, EYE_Y + 0.03), (CX + shadow_side * 0.018, tip_y - 0.05),
                     (CX + shadow_side * nw * 0.6, tip_y - 0.02), 10)
    P.soft(lambda mk: P.stroke(bridge, 255, 0.01, img=mk), skin_dark, 0.7, 0.01, bridge)
    for side in (-1, 1):
        wing = _bezier((tip_x + side * nw * 0.55, tip_y - 0.028), (tip_x + side * nw * 1.25, tip_y - 0.004),
                       (tip_x + side * nw * 0.55, tip_y + 0.008), 10)
        P.layer(lambda img, w=wing: P.stroke(w, skin_line, 0.0045, img=img), 0.8, wing)
        P.fill(_ellipse(tip_x + side * nw * 0.4, tip_y + 0.005, nw * 0.22, nw * 0.12, 16), _shade(skin, 0.4))


def _draw_mouth(P: _Painter, f: IdentityFactors, geo: dict) -> None:
    """Smile folds (opacity grows with positive valence) and mouth-corner lines (negative valence), the lips,
    the open mouth's interior with the upper teeth, the lip line and a lower-lip highlight."""
    skin, _, skin_line = _skin_shades(f)
    tip_x, tip_y = geo["nose_tip"]
    nw = f.nose_width
    v = geo["valence"]
    m = geo["mouth"]
    pos, neg = max(v, 0.0), max(-v, 0.0)
    (lx, ly), (rx, ry) = m["corners"]
    for side, (cxm, cym) in ((-1, (lx, ly)), (1, (rx, ry))):
        fold = _bezier((tip_x + side * (nw * 1.15 + 0.008), tip_y - 0.006),
                       (cxm + side * 0.03, (tip_y + cym) / 2),
                       (cxm + side * 0.012, cym + 0.012), 12)
        P.layer(lambda img, fd=fold: P.stroke(fd, skin_line, 0.005, img=img), 0.55 * pos, fold)
        sag = np.array([[cxm + side * 0.004, cym + 0.004], [cxm + side * 0.01, cym + 0.028]])
        P.layer(lambda img, sg=sag: P.stroke(sg, skin_line, 0.005, img=img), 0.45 * neg, sag)
    lips = np.concatenate([m["upper_outer"], m["lower_outer"][::-1]], 0)
    P.fill(lips, f.lip_color)
    interior = np.concatenate([m["upper_inner"], m["lower_inner"][::-1]], 0)
    if m["open"] > 1e-4:
        mouth_dark = np.array([70.0, 22.0, 28.0])
        P.fill(interior, mouth_dark * min(1.0, 0.35 * _luma(skin) / _luma(mouth_dark)))
        teeth_h = min(m["open"] * 0.42, 0.016)
        ui = m["upper_inner"]
        teeth_edge = ui + np.array([0.0, teeth_h]) * (1 - ((ui[:, :1] - CX) / m["width"]) ** 2)
        teeth = np.concatenate([ui, teeth_edge[::-1]], 0)
        P.layer(lambda img: P.fill(teeth, (238, 234, 224), img), 1.0, interior, clip=interior)
    P.stroke(interior, _shade(f.lip_color, 0.45), 0.0045, closed=True)
    # lower-lip highlight
    hl_lip = m["lower_outer"][6:-6] + np.array([0.0, -0.35 * f.lip_thickness])
    P.layer(lambda img: P.stroke(hl_lip, _shade(f.lip_color, 1.18), 0.004, img=img), 0.5, hl_lip)


def _draw_eyes(P: _Painter, f: IdentityFactors, geo: dict) -> None:
    """Per eye: the lid crease, the white, the iris (rim, pupil, catch light) clipped to the eye's outline,
    the upper lash line and the lower lid."""
    _, _, skin_line = _skin_shades(f)
    lash = _shade(_mix(np.asarray(f.hair_color), (20, 16, 16), 0.6), 1.0)
    for eye in geo["eyes"]:
        ex, ey = eye["centre"]
        outline = eye["outline"]
        ir = f.eye_size * 0.56
        crease = eye["upper"][3:-3] + np.array([0.0, -0.012 - 0.25 * eye["up"]])
        P.layer(lambda img, c=crease: P.stroke(c, skin_line, 0.004, img=img), 0.55, crease)
        P.fill(outline, (246, 243, 238))

        def _iris(img, ex=ex, ey=ey, ir=ir):
            P.fill(_ellipse(ex, ey + 0.002, ir, ir, 32), f.eye_color, img)
            P.stroke(_ellipse(ex, ey + 0.002, ir, ir, 32), _shade(f.eye_color, 0.55), 0.004, True, img)
            P.fill(_ellipse(ex, ey + 0.002, ir * 0.46, ir * 0.46, 24), (14, 10, 10), img)
            P.fill(_ellipse(ex - 0.3 * ir, ey - 0.28 * ir, ir * 0.2, ir * 0.2, 12), (255, 255, 255), img)

        P.layer(_iris, 1.0, outline, clip=outline)
        P.stroke(eye["upper"], lash, 0.0065)
        P.layer(lambda img, lo=eye["lower"]: P.stroke(lo, skin_line, 0.003, img=img), 0.7, eye["lower"])


def _draw_brows(P: _Painter, f: IdentityFactors, geo: dict) -> None:
    """Each brow as a band around its centre line, thinning towards the outer end."""
    brow_col = _shade(_mix(np.asarray(f.hair_color), (30, 24, 22), 0.25), 0.85)
    for line in geo["brows"]:
        d = np.gradient(line, axis=0)
        nrm = np.stack([-d[:, 1], d[:, 0]], 1)
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
        prof = f.brow_thickness * (1.0 - 0.55 * np.linspace(0, 1, len(line)) ** 1.5)[:, None]
        poly = np.concatenate([line + nrm * prof / 2, (line - nrm * prof / 2)[::-1]], 0)
        P.fill(poly, brow_col)


def _draw_glasses(P: _Painter, f: IdentityFactors, geo: dict) -> None:
    """Optional glasses: tinted lenses, round or rectangular frames, temples towards the ears and the bridge."""
    if not f.glasses:
        return
    gc = f.glasses_color
    fw = f.face_width
    for side, eye in zip((-1, 1), geo["eyes"]):
        ex, ey = eye["centre"]
        frame = _superellipse(ex, ey + 0.004, f.eye_size * 1.6, f.eye_size * 1.2,
                              2.0 if f.glasses_round else 4.0, 48)
        P.layer(lambda img, fr=frame: P.fill(fr, (235, 240, 250), img), 0.12, frame)
        P.stroke(frame, gc, 0.0065, closed=True)
        P.stroke([[ex + side * f.eye_size * 1.6, ey - 0.004], [CX + side * fw * 0.99, ey - 0.012]], gc, 0.006)
    bridge_g = _bezier((CX - f.eye_spacing + f.eye_size * 1.6, EYE_Y - 0.002), (CX, EYE_Y - 0.018),
                       (CX + f.eye_spacing - f.eye_size * 1.6, EYE_Y - 0.002), 8)
    P.stroke(bridge_g, gc, 0.006)


def _downscale_and_light(canvas: np.ndarray, f: IdentityFactors, size: int,
                         noise_rng: np.random.Generator | None) -> np.ndarray:
    """Area-downscale the supersampled canvas to ``size``, apply the directional lighting over the whole
    picture and (with ``noise_rng``, i.e. jitter) Gaussian pixel noise; round to uint8."""
    cv2 = _cv2()
    out = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    g = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    X, Y = np.meshgrid(g, g)
    la = f.light_angle
    light = 1.0 + 2.0 * f.light_strength * (X * math.cos(la) + Y * math.sin(la))
    out *= light[..., None]
    if noise_rng is not None:
        out += noise_rng.standard_normal(out.shape, dtype=np.float32) * PIXEL_NOISE_SIGMA
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ data sets

MODES = ("continuous", "discrete")


def nearest_emotion(valence: float, arousal: float, emotions: Sequence[str] = _labels.ALL_EMOTIONS) -> str:
    """The emotion among ``emotions`` whose circumplex point is nearest to (valence, arousal)."""
    pts = np.array([_labels.circumplex_va(e) for e in emotions])
    d = np.sum((pts - np.array([valence, arousal])) ** 2, axis=1)
    return _labels.canonical_emotion(emotions[int(np.argmin(d))])


def _image_seed(seed: int, identity: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(identity), int(index), stream]))


def image_rng(seed: int, identity: int, index: int) -> np.random.Generator:
    """The generator :func:`generate_dataset` passes to :func:`render_face` for image ``index`` of
    ``identity`` (jitter and pixel noise), so any listed image can be re-rendered exactly."""
    return _image_seed(seed, identity, index, 7)


def sample_labels(
    seed: int, identity: int, index: int, mode: str = "continuous", emotions: Sequence[str] | None = None,
) -> tuple[float, float, str]:
    """(valence, arousal, emotion) of image ``index`` of ``identity`` (rounded to 4 decimals; module docs)."""
    rng = _image_seed(seed, identity, index, 3)
    if mode == "continuous":
        v, a = rng.uniform(-1.0, 1.0, size=2)
        v, a = round(float(v), 4), round(float(a), 4)
        return v, a, nearest_emotion(v, a)
    if mode == "discrete":
        emotions = tuple(emotions or _labels.CGAN_EMOTIONS)
        emotion = _labels.canonical_emotion(emotions[index % len(emotions)])
        centre = np.array(_labels.circumplex_va(emotion))
        v, a = np.clip(centre + rng.normal(0.0, DISCRETE_LABEL_NOISE, size=2), -1.0, 1.0)
        return round(float(v), 4), round(float(a), 4), emotion
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def parse_emotions(spec: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Comma-separated (or iterable) emotion names → canonical names (``ValueError`` for unknown ones)."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = tuple(_labels.canonical_emotion(e) for e in items if str(e).strip())
    if not names:
        raise ValueError("the emotion list is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate emotions in {','.join(names)}")
    return names


def _png_params() -> list[int]:
    cv2 = _cv2()
    return [cv2.IMWRITE_PNG_COMPRESSION, 3]


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write RGB uint8 as PNG with fixed parameters (byte-identical output for identical pixels)."""
    cv2 = _cv2()
    if not cv2.imwrite(os.fspath(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _png_params()):
        raise OSError(f"{path}: could not write PNG")


def generate_dataset(
    out_dir: str | os.PathLike,
    identities: int | Iterable[int],
    per_identity: int,
    size: int = 96,
    seed: int = 0,
    mode: str = "continuous",
    emotions: Sequence[str] | str | None = None,
    progress: bool = True,
    *,
    first_identity: int = 0,
    jitter: bool = True,
):
    """Render a labelled synthetic data set into ``out_dir`` and return its table (pandas DataFrame).

    ``identities`` is a count N (identities ``first_identity .. first_identity+N-1``) or an explicit
    iterable of identity indices. Writes ``out_dir/images/id{identity:04d}_{k:04d}.png`` and
    ``out_dir/labels.csv`` with columns ``path,identity,valence,arousal,emotion`` (``path`` relative to
    ``out_dir``). ``mode`` and ``emotions`` are described in the module docstring.
    """
    import pandas as pd

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    emo = parse_emotions(emotions)
    if mode == "continuous" and emo is not None:
        raise ValueError("emotions can only be chosen in discrete mode")
    if isinstance(identities, (int, np.integer)):
        if identities < 1:
            raise ValueError(f"identities must be >= 1, got {identities}")
        ids = list(range(int(first_identity), int(first_identity) + int(identities)))
    else:
        ids = [int(i) for i in identities]
        if not ids:
            raise ValueError("no identities given")
    if per_identity < 1:
        raise ValueError(f"per_identity must be >= 1, got {per_identity}")
    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    if any(i < 0 for i in ids):
        raise ValueError("identity indices must be non-negative")

    out_dir = os.fspath(out_dir)
    img_dir = os.path.join(out_dir, "images")
    os.makedirs(img_dir, exist_ok=True)
    bar = None
    if progress:
        from caae_tf.progress import Progress

        bar = Progress(len(ids) * per_identity, f"rendering {len(ids) * per_identity} synthetic faces "
                       f"({len(ids)} identities x {per_identity}, {size} px, {mode})", unit="image")
    rows = []
    every = max(1, (len(ids) * per_identity) // 200)  # progress-bar refresh granularity
    for identity in ids:
        factors = sample_identity(seed, identity)
        for k in range(per_identity):
            v, a, emotion = sample_labels(seed, identity, k, mode, emo)
            img = render_face(factors, v, a, size, image_rng(seed, identity, k), jitter=jitter)
            rel = f"images/id{identity:04d}_{k:04d}.png"
            write_png(os.path.join(out_dir, rel), img)
            rows.append((rel, identity, v, a, emotion))
            if bar is not None and len(rows) % every == 0:
                bar.set(len(rows))
    if bar is not None:
        bar.close()
    df = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    df.to_csv(os.path.join(out_dir, "labels.csv"), index=False, float_format="%.4f", lineterminator="\n")
    return df


# ------------------------------------------------------------------------------------------ contact sheet

def contact_sheet(
    path: str | os.PathLike | None,
    identities: int = 6,
    sweep: int = 7,
    size: int = 96,
    seed: int = 0,
    *,
    first_identity: int = 0,
) -> np.ndarray:
    """Write (and return) a contact sheet: rows = identities, columns = a valence sweep at arousal 0
    followed by an arousal sweep at valence 0 (``sweep`` steps each over [−1, 1]), jitter-free.

    ``path=None`` only returns the RGB uint8 image.
    """
    cv2 = _cv2()
    steps = np.linspace(-1.0, 1.0, sweep)
    pad, gap, head, left = 2, 14, 34, 0
    n_cols = 2 * sweep
    W = left + n_cols * (size + pad) + pad + gap
    H = head + identities * (size + pad) + pad
    sheet = np.full((H, W, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    fs = 0.36 if size < 128 else 0.45

    def col_x(c: int) -> int:
        return left + pad + c * (size + pad) + (gap if c >= sweep else 0)

    for block, title in enumerate(("valence -1 .. +1  (arousal 0)", "arousal -1 .. +1  (valence 0)")):
        x0 = col_x(block * sweep)
        cv2.putText(sheet, title, (x0 + 2, 12), font, fs, (40, 40, 40), 1, cv2.LINE_AA)
        for j, val in enumerate(steps):
            cv2.putText(sheet, f"{val:+.2f}", (col_x(block * sweep + j) + size // 2 - 16, head - 6), font, fs,
                        (90, 90, 90), 1, cv2.LINE_AA)
    ids = range(int(first_identity), int(first_identity) + int(identities))
    for r, identity in enumerate(ids):
        f = sample_identity(seed, identity)
        y = head + pad + r * (size + pad)
        for c in range(n_cols):
            val = float(steps[c % sweep])
            v, a = (val, 0.0) if c < sweep else (0.0, val)
            sheet[y : y + size, col_x(c) : col_x(c) + size] = render_face(f, v, a, size, None, jitter=False)
    if path is not None:
        parent = os.path.dirname(os.fspath(path))
        if parent:
            os.makedirs(parent, exist_ok=True)
        if not cv2.imwrite(os.fspath(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"{path}: could not write PNG")
    return sheet
