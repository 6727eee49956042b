"""edit --video: a clip made from stills round-trips with its frame count and fps, faceless frames pass
through and are counted, landmarks are smoothed (less jitter), schedules, unreadable videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from caae_tf.cli import main
from caae_tf.edit import Editor
from caae_tf.errors import UserError
from caae_tf.video import (LandmarkTracker, OneEuroFilter, VideoError, edit_video, landmark_jitter,
                           read_schedule)

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the astronaut photo")

FPS = 12.0


def _invert(images, va):
    x = np.asarray(images, np.float32)
    return np.clip(-x + 0.2 * np.asarray(va, np.float32)[:, :1, None, None], -1, 1)


@pytest.fixture(scope="module")
def fake():
    return Editor(_invert, None, 64, "fake")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """14 frames at 12 fps (MJPG .avi): the astronaut's head drifting 1 px/frame with sensor noise, then
    3 frames of an empty wall."""
    rng = np.random.default_rng(0)
    head = skimage_data.astronaut()[0:300, 100:360]
    path = str(tmp_path_factory.mktemp("video") / "in.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), FPS, (240, 200))
    assert w.isOpened()
    frames = []
    for k in range(14):
        if k < 11:
            M = np.float32([[0.8, 0, -10 + k], [0, 0.8, -20]])
            f = cv2.warpAffine(head, M, (240, 200), borderMode=cv2.BORDER_REPLICATE).astype(np.int16)
            f = np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8)
        else:
            f = np.full((200, 240, 3), 140, np.uint8)
        frames.append(f)
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()
    return path


def _read(path):
    cap = cv2.VideoCapture(path)
    fps, n = cap.get(cv2.CAP_PROP_FPS), 0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[..., ::-1])
        n += 1
    cap.release()
    return fps, frames


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_round_trip_counts_and_fps(fake, clip, tmp_path, ext):
    out = str(tmp_path / f"out{ext}")
    rep = edit_video(fake, clip, out, valence=0.5, arousal=0.0, progress=False)
    fps, frames = _read(out)
    assert fps == pytest.approx(FPS) and len(frames) == 14
    assert (rep.frames_read, rep.frames_written, rep.frames_edited, rep.frames_no_face) == (14, 14, 11, 3)
    _, src = _read(clip)
    diff = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, src)]
    assert min(diff[:11]) > 5 and max(diff[11:]) < 3  # faces edited, faceless frames passed through
    j = rep.to_json()["landmark_jitter_px"]
    assert j["smoothed"] < j["raw"]


def test_smoothing_reduces_jitter_of_a_still_face():
    rng = np.random.default_rng(0)
    from data_prep.detect import Face

    truth = np.array([[100, 100], [140, 100], [120, 125], [105, 145], [135, 145]], float)
    raw, smooth = [], []
    tr = LandmarkTracker()
    for k in range(60):
        lm = truth + rng.normal(0, 1.0, truth.shape)
        (f,) = tr.update([Face((80, 70, 80, 100), lm, 0.99)], k / 25.0)
        raw.append(lm)
        smooth.append(f.landmarks)
    assert landmark_jitter(smooth) < 0.5 * landmark_jitter(raw)
    # a fast move is followed: after a 40 px jump the filter catches up within a few frames
    f1 = OneEuroFilter()
    for k in range(10):
        f1(np.zeros(2), k / 25)
    ys = [f1(np.array([40.0, 0]), (10 + k) / 25, speed_scale=40)[0] for k in range(6)]
    assert ys[-1] > 35


def test_schedule(tmp_path):
    p = tmp_path / "va.csv"
    p.write_text("time,valence,arousal\n0,-1,0\n1,1,0.5\n")
    s = read_schedule(str(p))
    np.testing.assert_allclose(s.at(6, 12.0), [0.0, 0.25])
    np.testing.assert_allclose(s.at(100, 12.0), [1.0, 0.5])
    for text, msg in (("t,valence\n0,0\n", "needs the columns"), ("frame,valence,arousal\n0,2,0\n", "row 2"),
                      ("frame,valence,arousal\n0,x,0\n", "must be numbers")):
        p.write_text(text)
        with pytest.raises(UserError, match=msg):
            read_schedule(str(p))


def test_schedule_drives_the_edit(fake, clip, tmp_path):
    p = tmp_path / "va.csv"
    p.write_text("frame,valence,arousal\n0,-1,0\n10,1,0\n")
    out = str(tmp_path / "s.avi")
    edit_video(fake, clip, out, schedule=read_schedule(str(p)), progress=False)
    _, frames = _read(out)
    # the stand-in editor adds 0.2·valence: the face brightens from frame 0 to frame 10
    assert frames[10].astype(float).mean() > frames[0].astype(float).mean() + 3


def test_unreadable_video_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 50)
    with pytest.raises(VideoError, match="cannot read this video"):
        edit_video(None, str(bad), str(tmp_path / "o.mp4"), valence=0, arousal=0, progress=False)
    with pytest.raises(VideoError, match="not found"):
        edit_video(None, str(tmp_path / "none.mp4"), str(tmp_path / "o.mp4"), valence=0, arousal=0)
    rc = main(["edit", "--video", str(bad), "--model", str(tmp_path / "nomodel"), "--valence", "0",
               "--arousal", "0", "--out", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("error:") == 1 and "cannot read this video" in err
