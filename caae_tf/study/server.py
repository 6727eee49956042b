"""``caae-tf study serve``: the survey as a local web app (Flask, served by waitress).

Participant flow (paper 001 §4.2)
---------------------------------
``GET /`` consent + demographics (age, gender) → ``POST /start`` creates the participant with a random
token and a per-participant random order of all images → ``GET /p/<token>`` shows the next unanswered
image with one 5-point Likert row per emotion (1 = strongly agree … 5 = strongly disagree) →
``POST /p/<token>/answer`` stores the six ratings → … → a thank-you page. The link ``/p/<token>`` is the
participant's only credential: reloading it or coming back with it later continues at the first
unanswered image. No cookies, no JavaScript.

JSON twins for scripted clients (tests, :mod:`caae_tf.study.simulate`): ``POST /start`` with a JSON body
answers ``201 {"token", "url"}``; ``GET /p/<token>/next.json`` gives the next image (id, image URL,
answer ticket, position); ``POST /p/<token>/answer`` with ``{"item", "ticket", "ratings": {emotion: 1..5}}``
answers ``200 {"stored", "position", "done"}``.

Security
--------
* Binds 127.0.0.1 unless ``--host`` says otherwise.
* Image URLs are ``/p/<token>/image/<id>``: the id is 16 random hex digits drawn at build time, the same
  for real and generated images, never a file name; it is looked up in a dict of preloaded bytes, so no
  request ever reaches the file system. PNG bytes are re-encoded at build time (no metadata), served
  without ETag/Last-Modified.
* Every answer carries a *ticket* = HMAC-SHA256(server key, token ‖ image id) printed into that
  participant's page: an answer sent with another participant's token (or forged) is refused (403).
* Participants can read nothing but their own next image and position: no endpoint returns ratings,
  the manifest, or sources to them. Researcher pages (``/admin``, ``/admin/progress.json``,
  ``/admin/export.csv``) need the admin token (``Authorization: Bearer TOKEN`` or ``?token=TOKEN``); it is
  printed at start and kept in ``STUDY_DIR/secret`` (mode 0600).
* Bodies over ``max_body`` bytes (16 KiB) are refused with 413 before parsing; every refusal is a 4xx
  and stores nothing. Responses carry a strict Content-Security-Policy, ``no-referrer`` (the token must
  not leak through the Referer header), ``nosniff``, ``DENY`` framing and ``no-store``.
"""

from __future__ import annotations

import csv
import hmac
import io
import ipaddress
import os
import re
import secrets
import signal
import sys
from hashlib import sha256

from caae_tf.study import DB_FILE, LIKERT_LABELS, LIKERT_MAX, LIKERT_MIN
from caae_tf.study.db import StudyDB, StudyDBError
from caae_tf.study.files import ITEM_ID_RE, load_or_create_secret, load_study

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
GENDERS = {"female": "female", "male": "male", "diverse": "diverse", "no-answer": "prefer not to say"}
MIN_AGE, MAX_AGE = 18, 120
DEFAULT_MAX_BODY = 16 * 1024

_CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.4rem; }
.face { display: block; margin: 0.5rem auto 1rem; image-rendering: auto; border: 1px solid #ccc; }
table.likert { border-collapse: collapse; width: 100%; }
table.likert th, table.likert td { padding: 0.35rem 0.3rem; text-align: center; border-bottom: 1px solid #eee; }
table.likert th { font-size: 0.8rem; font-weight: normal; color: #555; }
table.likert td.emo { text-align: left; font-weight: 600; }
table.likert label { display: block; cursor: pointer; }
table.likert input[type=radio] { width: 1.1rem; height: 1.1rem; cursor: pointer; }
.progress { color: #555; font-size: 0.9rem; }
.error { color: #a00; font-weight: 600; }
button { font-size: 1rem; padding: 0.5rem 1.5rem; margin-top: 1rem; }
.link { font-family: monospace; word-break: break-all; background: #f4f4f4; padding: 0.2rem; }
.admin td, .admin th { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; white-space: nowrap; }
"""

_TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title><link rel="stylesheet" href="/style.css"></head>
<body>{% block body %}{% endblock %}</body></html>""",
    "consent.html": """{% extends "base.html" %}{% block body %}
<h1>{{ title }}</h1>
<p>You will see {{ n_items }} photos of faces, one at a time. For each photo, say how much you agree that the
face shows each of {{ emotions|length }} emotions ({{ emotion_names }}), on a scale from
1 (strongly agree) to 5 (strongly disagree). It takes about {{ minutes }} minutes.</p>
<p>Your answers are stored anonymously together with your age and gender and used only for research. You can
stop at any time; you will get a personal link to continue later.</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
<form method="post" action="/start">
<p><label><input type="checkbox" name="consent" value="yes" id="consent" required>
I have read the above and agree to take part.</label></p>
<p><label>Age: <input type="number" name="age" id="age" min="{{ min_age }}" max="{{ max_age }}" required></label></p>
<p>Gender:
{% for key, label in genders.items() %}<label><input type="radio" name="gender" value="{{ key }}" id="gender-{{ key }}"
 required> {{ label }}</label> {% endfor %}
</p>
<button type="submit" id="start">Start</button>
</form>{% endblock %}""",
    "rate.html": """{% extends "base.html" %}{% block body %}
<p class="progress" id="progress">Image {{ position + 1 }} of {{ total }}</p>
{% if position == 0 %}<p>Your personal link (bookmark it to continue later):
<span class="link" id="personal-link">{{ personal_link }}</span></p>{% endif %}
<img class="face" id="face" src="{{ image_url }}" width="{{ display_size }}" height="{{ display_size }}"
 alt="face {{ position + 1 }}">
<p>{{ question }}</p>
<form method="post" action="{{ answer_url }}" id="rating-form">
<input type="hidden" name="item" value="{{ item }}"><input type="hidden" name="ticket" value="{{ ticket }}">
<table class="likert"><tr><th></th>{% for v in scale %}<th>{{ v }}<br>{{ likert[loop.index0] }}</th>{% endfor %}</tr>
{% for e in emotions %}<tr><td class="emo">{{ e|capitalize }}</td>{% for v in scale %}
<td><label><input type="radio" name="rating_{{ e }}" value="{{ v }}" id="r-{{ e }}-{{ v }}" required
 aria-label="{{ e }}: {{ likert[loop.index0] }}"></label></td>{% endfor %}</tr>
{% endfor %}</table>
<button type="submit" id="next">{{ 'Finish' if position + 1 == total else 'Next' }}</button>
</form>{% endblock %}""",
    "done.html": """{% extends "base.html" %}{% block body %}
<h1 id="done">Thank you!</h1><p>You have rated all {{ total }} images. You can close this page.</p>
{% endblock %}""",
    "error.html": """{% extends "base.html" %}{% block body %}
<h1>{{ code }} {{ name }}</h1><p class="error">{{ message }}</p>
{% if back %}<p><a href="{{ back }}">Continue the survey</a></p>{% endif %}
{% endblock %}""",
    "admin.html": """{% extends "base.html" %}{% block body %}
<h1>{{ title }} — progress</h1>
<p id="counts">{{ counts.participants }} participants, {{ counts.completed }} completed, {{ counts.answers }}
answered images ({{ counts.ratings }} ratings). Study: {{ n_items }} images.</p>
<p>Export: <a href="/admin/export.csv?token={{ token }}">export.csv</a> ·
<a href="/admin/progress.json?token={{ token }}">progress.json</a></p>
<table class="admin"><tr><th>participant</th><th>started (UTC)</th><th>answered</th><th>completed (UTC)</th><th>age</th>
<th>gender</th></tr>
{% for p in rows %}<tr><td>{{ p.id }}</td><td>{{ p.created_at[:19]|replace('T', ' ') }}</td>
<td>{{ p.answered }} / {{ p.total }}</td><td>{{ (p.completed_at or '')[:19]|replace('T', ' ') }}</td>
<td>{{ p.age }}</td><td>{{ p.gender }}</td></tr>{% endfor %}
</table>{% endblock %}""",
}


def ticket_for(key: str, token: str, item_id: str) -> str:
    """The answer ticket of ``token`` for image ``item_id`` (HMAC-SHA256, 32 hex digits)."""
    return hmac.new(bytes.fromhex(key), f"{token}\n{item_id}".encode(), sha256).hexdigest()[:32]


def create_app(study_dir: str | os.PathLike, *, admin_token: str | None = None,
               max_body: int = DEFAULT_MAX_BODY, db_timeout: float = 30.0):
    """The Flask app of one study directory (module docstring). ``app.extensions["caae_study"]`` holds
    ``study``, ``db`` and ``admin_token``."""
    import jinja2
    from flask import Flask, Response, jsonify, redirect, render_template, request
    from werkzeug.exceptions import HTTPException

    study = load_study(study_dir)
    secret = load_or_create_secret(study.root)
    admin = admin_token or secret["admin_token"]
    ticket_key = secret["ticket_key"]
    emotions = study.emotions
    db = StudyDB(os.path.join(study.root, DB_FILE), emotions, study_id=study.study_id, timeout=db_timeout)
    images: dict[str, bytes] = {}
    for iid in study.items:
        with open(study.image_path(iid), "rb") as fh:
            images[iid] = fh.read()
    settings = study.settings
    title = str(settings.get("title") or "Face study")
    display_size = int(settings.get("display_size") or 256)
    common = {"title": title, "emotions": emotions, "n_items": len(images), "display_size": display_size}

    app = Flask(__name__)
    app.jinja_loader = jinja2.DictLoader(_TEMPLATES)
    app.config.update(MAX_CONTENT_LENGTH=int(max_body), MAX_FORM_MEMORY_SIZE=int(max_body), MAX_FORM_PARTS=64,
                      JSON_SORT_KEYS=False)
    app.extensions["caae_study"] = {"study": study, "db": db, "admin_token": admin}

    # ---------------------------------------------------------------- helpers
    def wants_json() -> bool:
        return (request.path.endswith(".json") or request.is_json
                or request.accept_mimetypes.best == "application/json")

    def fail(code: int, message: str, back: str | None = None):
        if wants_json():
            resp = jsonify({"error": message, "status": code})
            resp.status_code = code
        else:
            from werkzeug.http import HTTP_STATUS_CODES

            resp = Response(render_template("error.html", code=code, name=HTTP_STATUS_CODES.get(code, ""),
                                            message=message, back=back, **common), status=code,
                            mimetype="text/html")
        if code == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="caae-tf study admin"'
        return resp

    class Refused(Exception):
        def __init__(self, code: int, message: str, back: str | None = None):
            super().__init__(message)
            self.code, self.message, self.back = code, message, back

    def participant_state(token: str) -> dict:
        if not TOKEN_RE.match(token):
            raise Refused(404, "unknown participant link")
        try:
            return db.state(token)
        except StudyDBError as exc:
            raise Refused(exc.status, "unknown participant link") from None

    def next_info(token: str, state: dict) -> dict:
        item = state["next"]
        info = {"done": item is None, "position": state["position"], "total": state["total"]}
        if item is not None:
            info.update(item=item, ticket=ticket_for(ticket_key, token, item),
                        image=f"/p/{token}/image/{item}", answer=f"/p/{token}/answer", emotions=emotions,
                        likert={str(v): LIKERT_LABELS[v - 1] for v in range(LIKERT_MIN, LIKERT_MAX + 1)})
        return info

    def check_admin():
        auth = request.headers.get("Authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.args.get("token", "")
        if not given:
            raise Refused(401, "admin token required (Authorization: Bearer TOKEN or ?token=TOKEN)")
        if not hmac.compare_digest(given.encode(), admin.encode()):
            raise Refused(403, "wrong admin token")
        return given

    @app.errorhandler(Refused)
    def _refused(exc: Refused):
        return fail(exc.code, exc.message, exc.back)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return fail(exc.code or 500, exc.description or exc.name)

    @app.after_request
    def _headers(resp):
        h = resp.headers
        h["Content-Security-Policy"] = _CSP
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        h["X-Frame-Options"] = "DENY"
        h["Cache-Control"] = "no-store"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        return resp

    # ---------------------------------------------------------------- participant pages
    @app.get("/style.css")
    def style():
        return Response(_CSS, mimetype="text/css")

    def consent_page(error: str | None = None, status: int = 200):
        minutes = max(1, round(len(images) * 0.4))
        return Response(render_template(
            "consent.html", error=error, emotion_names=", ".join(e.capitalize() for e in emotions),
            genders=GENDERS, min_age=MIN_AGE, max_age=MAX_AGE, minutes=minutes, **common),
            status=status, mimetype="text/html")

    @app.get("/")
    def index():
        return consent_page()

    @app.post("/start")
    def start():
        if request.is_json:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                raise Refused(400, "expected a JSON object")
        else:
            data = request.form
        consent = data.get("consent")
        age_raw, gender = data.get("age"), data.get("gender")
        error = None
        if consent not in ("yes", True):
            error = "Please confirm that you agree to take part."
        else:
            try:
                age = int(str(age_raw).strip()) if not isinstance(age_raw, bool) else None
            except ValueError:
                age = None
            if age is None or not MIN_AGE <= age <= MAX_AGE:
                error = f"Please give your age in years ({MIN_AGE}–{MAX_AGE})."
            elif gender not in GENDERS:
                error = "Please choose one of the gender options."
        if error:
            if request.is_json:
                raise Refused(400, error)
            return consent_page(error, 400)
        token = secrets.token_urlsafe(18)
        order = list(images)
        secrets.SystemRandom().shuffle(order)
        db.create_participant(token, age=age, gender=gender, order=order)
        url = f"/p/{token}"
        if request.is_json:
            resp = jsonify({"token": token, "url": url, "next": f"{url}/next.json"})
            resp.status_code = 201
            return resp
        return redirect(url, code=303)

    @app.get("/p/<token>")
    def participant(token: str):
        state = participant_state(token)
        if state["next"] is None:
            return render_template("done.html", total=state["total"], **common)
        info = next_info(token, state)
        return render_template(
            "rate.html", position=info["position"], total=info["total"], item=info["item"],
            ticket=info["ticket"], image_url=info["image"], answer_url=info["answer"],
            personal_link=request.host_url.rstrip("/") + f"/p/{token}", question=settings.get("question"),
            scale=list(range(LIKERT_MIN, LIKERT_MAX + 1)), likert=list(LIKERT_LABELS), **common)

    @app.get("/p/<token>/next.json")
    def participant_next(token: str):
        return jsonify(next_info(token, participant_state(token)))

    @app.get("/p/<token>/image/<item_id>")
    def image(token: str, item_id: str):
        state = participant_state(token)
        if not ITEM_ID_RE.match(item_id) or item_id not in images or item_id not in state["order"]:
            raise Refused(404, "no such image")
        return Response(images[item_id], mimetype="image/png")

    @app.post("/p/<token>/answer")
    def answer(token: str):
        state = participant_state(token)
        back = f"/p/{token}"
        if request.is_json:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                raise Refused(400, "expected a JSON object")
            ratings = data.get("ratings")
        else:
            data = request.form
            ratings = {k[len("rating_"):]: v for k, v in data.items() if k.startswith("rating_")}
        item, ticket = data.get("item"), data.get("ticket")
        if not isinstance(item, str) or not ITEM_ID_RE.match(item) or item not in images:
            raise Refused(404, "no such image", back)
        if item not in state["order"]:  # pragma: no cover - every participant sees every image
            raise Refused(404, "no such image", back)
        if not isinstance(ticket, str) or not hmac.compare_digest(ticket.encode(),
                                                                  ticket_for(ticket_key, token, item).encode()):
            raise Refused(403, "this answer does not belong to this participant link", back)
        try:
            result = db.record_answer(token, item, ratings if isinstance(ratings, dict) else {})
        except StudyDBError as exc:
            raise Refused(exc.status, str(exc), back) from None
        if request.is_json:
            return jsonify({**result, "next": f"{back}/next.json"})
        return redirect(back, code=303)

    # ---------------------------------------------------------------- researcher pages
    @app.get("/admin")
    def admin_page():
        token = check_admin()
        return render_template("admin.html", counts=db.counts(), rows=db.progress(), token=token, **common)

    @app.get("/admin/progress.json")
    def admin_progress():
        check_admin()
        return jsonify({"counts": db.counts(), "participants": db.progress(), "n_items": len(images)})

    @app.get("/admin/export.csv")
    def admin_export():
        check_admin()
        buf = io.StringIO()
        cols = ["participant", "age", "gender", "completed", "position", "answered_at", "item_id", "source",
                "true_emotion", "rated_emotion", "likert"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in db.ratings():
            it = study.items.get(r["item_id"], {})
            w.writerow({**{k: r[k] for k in cols if k in r}, "source": it.get("source"),
                        "true_emotion": it.get("emotion"), "rated_emotion": r["emotion"]})
        return Response(buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=ratings.csv"})

    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(study_dir: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
          admin_token: str | None = None, rotate_admin: bool = False, max_body: int = DEFAULT_MAX_BODY,
          out=None) -> int:
    """Run the study server until SIGINT/SIGTERM (prints the participant and admin URLs first)."""
    from waitress import create_server

    out = out or sys.stdout
    if rotate_admin:
        load_or_create_secret(study_dir, rotate_admin=True)
    app = create_app(study_dir, admin_token=admin_token, max_body=max_body)
    ctx = app.extensions["caae_study"]
    server = create_server(app, host=host, port=int(port), threads=int(threads), ident="caae-tf-study",
                           max_request_body_size=max(int(max_body), 1024) * 4, expose_tracebacks=False)
    shown = f"[{server.effective_host}]" if ":" in str(server.effective_host) else server.effective_host
    base = f"http://{shown}:{server.effective_port}"
    counts = ctx["db"].counts()
    print(f"study: {ctx['study'].root} ({len(ctx['study'].items)} images; {counts['participants']} participants "
          f"so far, {counts['completed']} completed)", file=out)
    print(f"participants: {base}/", file=out)
    print(f"admin token: {ctx['admin_token']}", file=out)
    print(f"progress: {base}/admin?token={ctx['admin_token']}", file=out)
    print(f"export: {base}/admin/export.csv?token={ctx['admin_token']}", file=out)
    if not is_loopback(host):
        print(f"warning: listening on {host}, not only this machine; participant links travel unencrypted over "
              "plain HTTP (put a TLS reverse proxy in front for anything but a trusted lab network)", file=out)
    print(f"listening on {base} (Ctrl+C to stop)", file=out, flush=True)

    def _stop(signum, frame):
        raise SystemExit(0)

    old = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        server.close()
    return 0
