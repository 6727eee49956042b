"""``caae-tf study``: building a survey, serving it (flow, resume, bad input, leaks), SQLite durability under
SIGKILL with concurrent participants, and the Fig. 4 report. No TensorFlow except the cGAN/CAAE build test."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from caae_tf import labels as L
from caae_tf.study import DB_FILE, MANIFEST_JSON, SECRET_FILE, STUDY_JSON
from caae_tf.study.build import build_study
from caae_tf.study.db import StudyDB
from caae_tf.study.files import StudyError, load_study

EMOTIONS = list(L.CGAN_EMOTIONS)


def _synth(out, identities, per_identity, size, seed, first_identity=0):
    from data_prep.synthetic import generate_dataset

    generate_dataset(out, identities, per_identity, size=size, seed=seed, mode="discrete", progress=False,
                     first_identity=first_identity)
    return str(out)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Real: synthetic discrete faces, 48 px. "Generated": other synthetic identities at 40 px (any generator)."""
    root = tmp_path_factory.mktemp("study_sources")
    real = _synth(root / "real", 6, 6, 48, seed=0)
    fake = _synth(root / "fake", 6, 6, 40, seed=1, first_identity=100)
    return real, fake


@pytest.fixture()
def study_dir(sources, tmp_path):
    real, fake = sources
    build_study(str(tmp_path / "study"), real=real, generated=fake, per_emotion=3, seed=0, size=48)
    return str(tmp_path / "study")


@pytest.fixture()
def app(study_dir):
    from caae_tf.study.server import create_app

    app = create_app(study_dir)
    app.testing = True
    return app


def _db(app) -> StudyDB:
    return app.extensions["caae_study"]["db"]


def _start(client, age=30, gender="female") -> str:
    r = client.post("/start", json={"consent": "yes", "age": age, "gender": gender})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["token"]


def _next(client, token) -> dict:
    r = client.get(f"/p/{token}/next.json")
    assert r.status_code == 200
    return r.get_json()


def _ratings(rng) -> dict:
    return {e: int(rng.integers(1, 6)) for e in EMOTIONS}


# ------------------------------------------------------------------------------------------------ build

def test_build_picks_resizes_and_hides_sources(sources, study_dir):
    study = load_study(study_dir)
    items = list(study.items.values())
    assert len(items) == 36
    for src in ("real", "generated"):
        for e in EMOTIONS:
            assert sum(1 for it in items if it["source"] == src and it["emotion"] == e) == 3
    # real ones: distinct identities per emotion; never the same file as a generated one
    real_paths = {it["origin"]["path"] for it in items if it["source"] == "real"}
    assert len(real_paths) == 18 and all(p.startswith(sources[0]) for p in real_paths)
    import cv2

    shapes = {cv2.imread(study.image_path(i)).shape for i in study.items}
    assert shapes == {(48, 48, 3)}  # 48 px real and 40 px generated, both at --size 48
    for iid, it in study.items.items():
        assert re.fullmatch(r"[0-9a-f]{16}", iid) and it["file"] == f"{iid}.png"
    public = open(os.path.join(study_dir, STUDY_JSON)).read()
    assert "real" not in public and "generated" not in public and '"items"' not in public
    # same seed -> same picks; a non-empty dir needs --force; a dir with responses is never overwritten
    with pytest.raises(StudyError, match="not empty"):
        build_study(study_dir, real=sources[0], generated=sources[1], size=48)
    build_study(study_dir, real=sources[0], generated=sources[1], size=48, force=True)
    again = {it["origin"]["path"] for it in load_study(study_dir).items.values() if it["source"] == "real"}
    assert again == real_paths
    StudyDB(os.path.join(study_dir, DB_FILE), EMOTIONS)
    with pytest.raises(StudyError, match="holds responses"):
        build_study(study_dir, real=sources[0], generated=sources[1], size=48, force=True)


def test_build_from_a_faces_folder_stretches_like_prepare_faces(sources, tmp_path):
    """Paper 001's real images come from FACES (ID_age_gender_emotion_set.jpg names, portrait photos)."""
    import cv2

    codes = {"neutral": "n", "sadness": "s", "disgust": "d", "fear": "f", "anger": "a", "happiness": "h"}
    folder = tmp_path / "FACES"
    folder.mkdir()
    for person in ("004", "015", "066"):
        for c in codes.values():
            img = np.zeros((50, 40, 3), np.uint8)
            img[:10] = 255  # a white band at the top: kept by stretch, cropped away by crop
            cv2.imwrite(str(folder / f"{person}_y_f_{c}_a.jpg"), img)
    out = tmp_path / "study_faces"
    build_study(str(out), real=str(folder), generated=sources[1], size=40, square="stretch")
    study = load_study(out)
    reals = [it for it in study.items.values() if it["source"] == "real"]
    assert len(reals) == 18 and {it["origin"]["identity"] for it in reals} == {0, 1, 2}
    for it in reals:
        assert os.path.basename(it["origin"]["path"]).split("_")[3] == codes[it["emotion"]]
        top = cv2.imread(study.image_path(it["id"]))[:5].mean()
        assert top > 200  # stretched, not centre-cropped


def test_build_errors(sources, tmp_path):
    real, fake = sources
    with pytest.raises(StudyError, match="needs 7 real image"):
        build_study(str(tmp_path / "a"), real=real, generated=fake, per_emotion=7)
    with pytest.raises(StudyError, match="exactly one"):
        build_study(str(tmp_path / "b"), real=real)


def test_study_code_never_imports_tensorflow(study_dir):
    code = (
        "import sys\n"
        "from caae_tf.cli import build_parser; build_parser()\n"
        "from caae_tf.study.server import create_app\n"
        "from caae_tf.study import report, simulate\n"
        f"app = create_app({study_dir!r}); c = app.test_client()\n"
        "assert c.get('/').status_code == 200\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


# ------------------------------------------------------------------------------------------------ serve

def test_html_flow_consent_rating_resume_done(app):
    c = app.test_client()
    page = c.get("/").get_data(as_text=True)
    assert "consent" in page and 'name="age"' in page and 'name="gender"' in page
    # demographics are validated server-side
    assert c.post("/start", data={"age": "30", "gender": "female"}).status_code == 400  # no consent
    assert c.post("/start", data={"consent": "yes", "age": "12", "gender": "female"}).status_code == 400
    assert c.post("/start", data={"consent": "yes", "age": "30", "gender": "robot"}).status_code == 400
    assert _db(app).counts()["participants"] == 0
    r = c.post("/start", data={"consent": "yes", "age": "30", "gender": "female"})
    assert r.status_code == 303
    link = r.headers["Location"]
    token = link.rsplit("/", 1)[1]
    seen = []
    for k in range(36):
        html = c.get(link).get_data(as_text=True)
        assert f"Image {k + 1} of 36" in html
        assert html.count('type="radio"') == 30  # six Likert rows of five
        item = re.search(r'name="item" value="([0-9a-f]{16})"', html).group(1)
        ticket = re.search(r'name="ticket" value="([0-9a-f]+)"', html).group(1)
        assert re.search(rf'src="/p/{token}/image/{item}"', html)
        seen.append(item)
        form = {"item": item, "ticket": ticket, **{f"rating_{e}": str(1 + (k + j) % 5) for j, e in enumerate(EMOTIONS)}}
        r = c.post(f"/p/{token}/answer", data=form)
        assert r.status_code == 303, r.get_data(as_text=True)
        if k == 10:  # a reload, or coming back later with the link, continues at the next image
            assert "Image 12 of 36" in app.test_client().get(link).get_data(as_text=True)
    assert sorted(seen) == sorted(load_study(app.extensions["caae_study"]["study"].root).items)
    assert "Thank you" in c.get(link).get_data(as_text=True)
    counts = _db(app).counts()
    assert counts == {"participants": 1, "completed": 1, "answers": 36, "ratings": 216}
    stored = {(r["item_id"], r["emotion"]): r["likert"] for r in _db(app).ratings()}
    assert stored[(seen[0], "neutral")] == 1 and stored[(seen[1], "sadness")] == 3


def test_orders_are_random_per_participant(app):
    c = app.test_client()
    orders = [_db(app).state(_start(c))["order"] for _ in range(4)]
    assert all(sorted(o) == sorted(orders[0]) for o in orders)
    assert len({tuple(o) for o in orders}) == 4


def test_bad_input_is_4xx_and_stores_nothing(app):
    c = app.test_client()
    a, b = _start(c), _start(c, age=40, gender="male")
    na = _next(c, a)
    good = {"item": na["item"], "ticket": na["ticket"], "ratings": {e: 3 for e in EMOTIONS}}
    nb = _next(c, b)
    other_item = next(i for i in app.extensions["caae_study"]["study"].items if i != na["item"])
    big = "x" * (64 * 1024)
    cases = {
        "likert 0": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "fear": 0}}, 400),
        "likert 6": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "fear": 6}}, 400),
        "likert 2.5": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "fear": 2.5}}, 400),
        "likert true": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "fear": True}}, 400),
        "likert text": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "fear": "agree"}}, 400),
        "missing emotion": (f"/p/{a}/answer", {**good, "ratings": {e: 3 for e in EMOTIONS[:-1]}}, 400),
        "unknown emotion": (f"/p/{a}/answer", {**good, "ratings": {**good["ratings"], "surprise": 3}}, 400),
        "ratings not a dict": (f"/p/{a}/answer", {**good, "ratings": [3] * 6}, 400),
        "unknown image id": (f"/p/{a}/answer", {**good, "item": "0123456789abcdef"}, 404),
        "malformed image id": (f"/p/{a}/answer", {**good, "item": "../manifest.json"}, 404),
        "image not due": (f"/p/{a}/answer", {**good, "item": other_item,
                                             "ticket": _ticket(app, a, other_item)}, 409),
        "other participant's token": (f"/p/{b}/answer", good, 403),
        "other participant's ticket": (f"/p/{a}/answer", {**good, "ticket": nb["ticket"]}, 403),
        "forged ticket": (f"/p/{a}/answer", {**good, "ticket": "0" * 32}, 403),
        "unknown token": (f"/p/{'Z' * 24}/answer", good, 404),
        "malformed token": ("/p/..%2f..%2fmanifest.json/answer", good, 404),
        "oversized body": (f"/p/{a}/answer", {**good, "pad": big}, 413),
    }
    for name, (url, body, code) in cases.items():
        r = c.post(url, json=body)
        assert r.status_code == code, (name, r.status_code, r.get_data(as_text=True)[:200])
        assert _db(app).counts()["answers"] == 0, name
    # form posts too: oversized, bad Likert, not JSON
    form = {"item": na["item"], "ticket": na["ticket"], **{f"rating_{e}": "3" for e in EMOTIONS}}
    assert c.post(f"/p/{a}/answer", data={**form, "rating_fear": "9"}).status_code == 400
    assert c.post(f"/p/{a}/answer", data={**form, "pad": big}).status_code == 413
    assert c.post(f"/p/{a}/answer", data="{not json", content_type="application/json").status_code == 400
    assert c.post("/start", data="x" * (64 * 1024), content_type="application/json").status_code == 413
    assert _db(app).counts() == {"participants": 2, "completed": 0, "answers": 0, "ratings": 0}
    # admin pages need the admin token
    admin = app.extensions["caae_study"]["admin_token"]
    for path in ("/admin", "/admin/progress.json", "/admin/export.csv"):
        assert c.get(path).status_code == 401
        assert c.get(path, headers={"Authorization": "Bearer nope"}).status_code == 403
        assert c.get(path + "?token=" + b).status_code == 403  # a participant token is not an admin token
        assert c.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    # the good answer is accepted; an identical retry stores nothing; a different one is a conflict
    assert c.post(f"/p/{a}/answer", json=good).get_json()["stored"] is True
    assert c.post(f"/p/{a}/answer", json=good).get_json()["stored"] is False
    r = c.post(f"/p/{a}/answer", json={**good, "ratings": {e: 1 for e in EMOTIONS}})
    assert r.status_code == 409
    assert _db(app).counts()["answers"] == 1 and _db(app).counts()["ratings"] == 6


def _ticket(app, token, item):
    from caae_tf.study.server import ticket_for

    secret = json.load(open(os.path.join(app.extensions["caae_study"]["study"].root, SECRET_FILE)))
    return ticket_for(secret["ticket_key"], token, item)


def test_participants_cannot_see_manifest_sources_or_files(app, study_dir):
    c = app.test_client()
    study = app.extensions["caae_study"]["study"]
    a = _start(c)
    info = _next(c, a)
    pages = [c.get("/").get_data(as_text=True), c.get(f"/p/{a}").get_data(as_text=True), json.dumps(info)]
    forbidden = ["real", "generated", "manifest", ".png", "synth", study_dir]
    forbidden += [os.path.basename(it["origin"]["path"]) for it in study.items.values()]
    for text in pages:
        low = text.lower()
        assert not [w for w in forbidden if w.lower() in low], [w for w in forbidden if w.lower() in low]
    r = c.get(info["image"])
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.data == open(study.image_path(info["item"]), "rb").read()
    for h in ("ETag", "Last-Modified", "Content-Disposition"):
        assert h not in r.headers
    assert (r.headers["Referrer-Policy"] == "no-referrer"
            and "default-src 'none'" in r.headers["Content-Security-Policy"])
    fname = study.items[info["item"]]["file"]
    for path in ["/manifest.json", "/study.json", "/secret", f"/{DB_FILE}", f"/images/{fname}",
                 f"/p/{a}/image/{fname}", f"/p/{a}/image/..%2f{MANIFEST_JSON}", f"/p/{a}/image/../../manifest.json",
                 f"/p/{a}/image/%2e%2e%2fmanifest.json", f"/p/{'Z' * 24}/image/{info['item']}",
                 f"/p/{a}/image/0123456789abcdef", "/static/manifest.json", "/admin/../manifest.json"]:
        r = c.get(path)
        assert r.status_code in (401, 404), (path, r.status_code)
        assert b'"items"' not in r.data and b"sha256" not in r.data


def test_db_is_wal_constrained_and_hashes_tokens(app, study_dir):
    c = app.test_client()
    a = _start(c)
    db = _db(app)
    assert db.journal_mode() == "wal"
    conn = sqlite3.connect(os.path.join(study_dir, DB_FILE))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO answers VALUES (1, 'x', 0, 'now')")
        conn.execute("INSERT INTO ratings VALUES (1, 'x', 'fear', 7)")
    conn.rollback()
    conn.close()
    with open(os.path.join(study_dir, DB_FILE), "rb") as fh:
        raw = fh.read()
    wal = os.path.join(study_dir, DB_FILE + "-wal")
    raw += open(wal, "rb").read() if os.path.exists(wal) else b""
    assert a.encode() not in raw


# ---------------------------------------------------------------------------------- SIGKILL, concurrent

def test_sigkill_mid_study_keeps_every_acknowledged_answer(study_dir):
    from caae_tf.study.simulate import ServerProcess, make_participants, oracle_rater, run_participants

    study = load_study(study_dir)
    server = ServerProcess(study_dir).start(timeout=600)
    assert server.url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
    current = {"url": server.url}
    people = make_participants(lambda: current["url"], [oracle_rater(study.manifest, seed=k) for k in range(3)])
    result: dict = {}

    def run():
        try:
            run_participants(people, deadline=900)
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    db = StudyDB(os.path.join(study_dir, DB_FILE), study.emotions)
    end = time.monotonic() + 600  # ends as soon as 30 answers are in; generous for a loaded machine
    # mid-study: every participant has started and answered some images, 30+ answers in all
    while time.monotonic() < end and not (min(len(p.acked) for p in people) >= 3 and db.counts()["answers"] >= 30):
        time.sleep(0.01)
    before = db.counts()["answers"]
    server.kill()  # SIGKILL while participants are posting
    after_kill = db.counts()["answers"]
    assert 30 <= before < 108, (before, server.lines)
    time.sleep(0.5)  # clients see connection errors and retry
    server2 = ServerProcess(study_dir).start(timeout=600)
    current["url"] = server2.url
    try:
        t.join(timeout=900)
        assert not t.is_alive() and "error" not in result, (result.get("error"), server.lines, server2.lines)
        assert sum(p.failures for p in people) > 0  # the outage was noticed
        rows = db.ratings()
        stored = {}
        for r in rows:
            stored.setdefault(r["participant"], {}).setdefault(r["item_id"], {})[r["emotion"]] = r["likert"]
        assert len(stored) == 3
        by_token = {}
        for p in people:
            by_token[p.token] = db.state(p.token)["id"]
            answers = stored[by_token[p.token]]
            assert len(answers) == 36 and all(len(v) == 6 for v in answers.values())
            for item, ratings in p.acked.items():  # every answer that got a 200 is stored, unchanged
                assert answers[item] == ratings
            assert db.state(p.token)["completed_at"] is not None
        assert after_kill >= before
        assert db.counts() == {"participants": 3, "completed": 3, "answers": 108, "ratings": 648}
    finally:
        server2.stop()
    assert server2.proc.returncode == 0


# ------------------------------------------------------------------------------------------------ report

def _fill(study_dir, n_complete=4, n_partial=1, seed=0):
    from caae_tf.study.simulate import oracle_rater

    study = load_study(study_dir)
    db = StudyDB(os.path.join(study_dir, DB_FILE), study.emotions, study_id=study.study_id, synchronous="OFF")
    rng = np.random.default_rng(seed)
    for k in range(n_complete + n_partial):
        token = f"participant-token-{k:04d}-xxxx"
        order = list(rng.permutation(sorted(study.items)))
        db.create_participant(token, age=20 + k, gender=["female", "male"][k % 2], order=order)
        rate = oracle_rater(study.manifest, seed=k)
        for item in order[: 36 if k < n_complete else 5]:
            db.record_answer(token, item, rate(item, study.emotions))
    return study, db


def test_report_figure_csv_and_summary(study_dir, tmp_path):
    import pandas as pd
    from scipy.stats import mannwhitneyu

    from caae_tf.cli import main

    study, db = _fill(study_dir)
    out = tmp_path / "rep"
    assert main(["study", "report", study_dir, "--out", str(out), "--note", "simulated participants"]) == 0
    df = pd.read_csv(out / "ratings.csv")
    assert len(df) == (4 * 36 + 5) * 6  # every stored rating, the partial participant's marked not included
    assert df["included"].sum() == 4 * 36 * 6
    assert set(df["source"]) == {"real", "generated"} and df["likert"].between(1, 5).all()
    s = json.load(open(out / "summary.json"))
    assert s["participants"]["included"] == 4 and s["participants"]["stored"] == 5
    assert s["participants"]["gender"] == {"female": 2, "male": 2}
    inc = df[df["included"]]
    for t in EMOTIONS:
        own = inc[(inc["true_emotion"] == t) & (inc["rated_emotion"] == t)]
        for src in ("real", "generated"):
            v = own[own["source"] == src]["likert"].to_numpy()
            e = s["emotions"][t][src]
            assert e["n_ratings"] == 12 and e["n_images"] == 3
            assert e["recognition_rate"] == pytest.approx((v <= 2).mean())
            assert e["mean_agreement"] == pytest.approx(v.mean())
            assert set(e["mean_likert"]) == set(EMOTIONS)
        mw = s["emotions"][t]["mann_whitney"]
        ref = mannwhitneyu(own[own["source"] == "real"]["likert"], own[own["source"] == "generated"]["likert"],
                           alternative="two-sided")
        assert mw["U"] == pytest.approx(ref.statistic) and mw["p"] == pytest.approx(ref.pvalue)
    import cv2

    fig = cv2.imread(str(out / "fig4.png"))
    assert fig is not None and fig.shape[0] > 300 and fig.shape[1] > 600
    # blue and orange curves are both drawn
    rgb = fig[..., ::-1].reshape(-1, 3).astype(int)
    blue = np.abs(rgb - [31, 119, 180]).sum(1) < 30
    orange = np.abs(rgb - [255, 127, 14]).sum(1) < 30
    assert blue.sum() > 500 and orange.sum() > 500
    # --include-incomplete adds the partial participant
    assert main(["study", "report", study_dir, "--out", str(tmp_path / "rep2"), "--include-incomplete"]) == 0
    assert json.load(open(tmp_path / "rep2" / "summary.json"))["participants"]["included"] == 5


def test_report_without_responses_is_a_clear_error(study_dir, capsys):
    from caae_tf.cli import main

    assert main(["study", "report", study_dir]) == 2
    assert "no responses yet" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- cGAN / CAAE build

def test_build_with_cgan_savedmodel(sources, tmp_path):
    """The paper's setup: fakes from the cGAN SavedModel with one-hot labels, real faces resized to its size."""
    from _train_helpers import tiny_cgan_model

    from caae_tf.cli import main
    from caae_tf.export.cgan import export_cgan

    real, _ = sources
    sm = export_cgan(tiny_cgan_model(), tmp_path / "cgan_sm")
    out = tmp_path / "study_cgan"
    assert main(["study", "build", "--real", real, "--model", str(sm), "--per-emotion", "3", "--seed", "1",
                 "--out", str(out)]) == 0
    study = load_study(out)
    gen = [it for it in study.items.values() if it["source"] == "generated"]
    assert len(gen) == 18 and study.settings["image_size"] == 64  # real 48 px faces resized to the cGAN's 64
    for it in gen:
        w = np.asarray(it["origin"]["emotion_weights"])
        assert it["origin"]["kind"] == "cgan" and w.sum() == 1 and w[EMOTIONS.index(it["emotion"])] == 1
    import cv2

    assert {cv2.imread(study.image_path(i)).shape for i in study.items} == {(64, 64, 3)}
    # the images are the generator's one-hot outputs
    from caae_tf.generate import CGANSampler
    from caae_tf.images import to_uint8

    g = CGANSampler(str(sm))
    first = min(gen, key=lambda it: it["origin"]["z_index"])
    weights = np.asarray([first["origin"]["emotion_weights"]], np.float32)
    img = to_uint8(g.generate(g.sample_z(18, seed=1)[:1], weights))[0]
    stored = cv2.imread(study.image_path(first["id"]))[..., ::-1].astype(int)
    assert np.abs(stored - img.astype(int)).max() <= 1  # same image (batch size may move a rounding)


@pytest.mark.slow
def test_build_with_caae_run_dir(sources, tmp_path):
    """The same study for the CAAE (a 1-step tiny run): faces that are not real stimuli, edited to each
    emotion's circumplex (valence, arousal)."""
    from _train_helpers import TINY_CAAE

    from caae_tf.cli import main
    from caae_tf.train import train_command

    real, _ = sources
    run = tmp_path / "caae_run"
    train_command("caae", real, str(run), overrides=TINY_CAAE + ["steps=1"], progress=False)
    out2 = tmp_path / "study_caae"
    assert main(["study", "build", "--real", real, "--model", str(run), "--out", str(out2), "--per-emotion", "1"]) == 0
    s2 = load_study(out2)
    real_paths = {it["origin"]["path"] for it in s2.items.values() if it["source"] == "real"}
    for it in s2.items.values():
        if it["source"] == "generated":
            assert it["origin"]["kind"] == "caae" and it["origin"]["input"] not in real_paths
            assert (it["origin"]["valence"], it["origin"]["arousal"]) == pytest.approx(L.circumplex_va(it["emotion"]))
    assert s2.settings["image_size"] == 32 and len(s2.items) == 12
