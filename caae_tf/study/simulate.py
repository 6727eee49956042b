"""Scripted participants that take a running study over HTTP (JSON API of :mod:`caae_tf.study.server`).

For tests and demos only: :func:`oracle_rater` *reads the private manifest* to know each image's true
emotion and source, which no real participant can, and draws Likert ratings from a simple perception model
(below). Ratings produced this way say nothing about any generator; they only exercise the pipeline.

Perception model of :func:`oracle_rater`: for an image of true emotion t, the expected rating of emotion e
is ``5 - 4 * clarity * exp(-d(t, e)^2 / (2 * 0.25^2))`` where d is the distance of the two emotions on the
circumplex (:func:`caae_tf.labels.circumplex_va`), ``clarity`` is 0.9 for real and 0.75 for generated
images, plus Gaussian noise (sd 0.7), rounded and clipped to 1..5.

Standard library only (urllib), no TensorFlow.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Mapping

from caae_tf import labels as L
from caae_tf.study import LIKERT_MAX, LIKERT_MIN

Rater = Callable[[str, list], dict]  # (item id, emotions) -> {emotion: rating}


class HTTPFailure(Exception):
    """No HTTP answer at all (connection refused/reset, timeout): the server may be down."""


def request_json(url: str, payload: dict | None = None, *, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None) -> tuple[int, dict]:
    """GET (``payload`` None) or POST JSON; returns (status, decoded JSON body or {}). Raises
    :class:`HTTPFailure` when no response arrives."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="GET" if payload is None else "POST")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
        # HTTPException covers IncompleteRead: the server was killed while sending the response, so the
        # answer was not acknowledged and the participant retries it
        raise HTTPFailure(str(exc)) from None
    try:
        return status, json.loads(body.decode() or "{}")
    except ValueError:
        return status, {}


def oracle_rater(manifest: dict, seed: int = 0, *, clarity_real: float = 0.9, clarity_generated: float = 0.75,
                 width: float = 0.25, noise: float = 0.7) -> Rater:
    """A simulated participant that knows the truth (module docstring)."""
    rng = random.Random(seed)
    truth = {it["id"]: (it["emotion"], it["source"]) for it in manifest["items"]}

    def rate(item_id: str, emotions: list) -> dict:
        t, source = truth[item_id]
        clarity = clarity_real if source == "real" else clarity_generated
        vt = L.circumplex_va(t)
        out = {}
        for e in emotions:
            ve = L.circumplex_va(e)
            d2 = (vt[0] - ve[0]) ** 2 + (vt[1] - ve[1]) ** 2
            mean = 5.0 - 4.0 * clarity * math.exp(-d2 / (2 * width**2))
            out[e] = int(min(LIKERT_MAX, max(LIKERT_MIN, round(mean + rng.gauss(0.0, noise)))))
        return out

    return rate


def random_rater(seed: int = 0) -> Rater:
    rng = random.Random(seed)
    return lambda item_id, emotions: {e: rng.randint(LIKERT_MIN, LIKERT_MAX) for e in emotions}


class Participant:
    """One scripted participant. ``base`` is a URL or a zero-argument callable returning the current base
    URL (the server may come back on another port). Every answer acknowledged with 200 is recorded in
    ``acked`` (item id → ratings) before the next request."""

    def __init__(self, base: str | Callable[[], str], rater: Rater, *, age: int = 25, gender: str = "no-answer",
                 pause: float = 0.0, timeout: float = 10.0):
        self._base = base if callable(base) else (lambda: base)
        self.rater = rater
        self.age, self.gender = age, gender
        self.pause, self.timeout = pause, timeout
        self.token: str | None = None
        self.acked: dict[str, dict] = {}
        self.sent: dict[str, dict] = {}
        self.statuses: list[int] = []
        self.failures = 0
        self.done = False

    def url(self, path: str) -> str:
        return self._base().rstrip("/") + path

    def start(self) -> str:
        status, body = request_json(self.url("/start"), {"consent": "yes", "age": self.age, "gender": self.gender},
                                    timeout=self.timeout)
        if status != 201:
            raise RuntimeError(f"start refused: {status} {body}")
        self.token = body["token"]
        return self.token

    def step(self) -> bool:
        """Answer the next image; True when the participant has finished. Raises HTTPFailure when down."""
        status, info = request_json(self.url(f"/p/{self.token}/next.json"), timeout=self.timeout)
        if status != 200:
            raise RuntimeError(f"next.json: {status} {info}")
        if info["done"]:
            self.done = True
            return True
        # A retry of an image whose answer got no response re-sends the same ratings: if the first attempt
        # was stored after all (slow server), the server accepts the identical retry instead of a conflict.
        ratings = self.sent.get(info["item"]) or self.rater(info["item"], info["emotions"])
        self.sent[info["item"]] = ratings
        status, body = request_json(self.url(info["answer"]),
                                    {"item": info["item"], "ticket": info["ticket"], "ratings": ratings},
                                    timeout=self.timeout)
        self.statuses.append(status)
        if status != 200:
            raise RuntimeError(f"answer refused: {status} {body}")
        self.acked[info["item"]] = ratings
        if self.pause:
            time.sleep(self.pause)
        self.done = bool(body.get("done"))
        return self.done

    def run(self, *, deadline: float = 120.0, retry_every: float = 0.1) -> None:
        """Start (if needed) and answer until done, riding out server outages until ``deadline`` seconds."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if self.token is None:
                    self.start()
                if self.step():
                    return
            except HTTPFailure:
                self.failures += 1
                time.sleep(retry_every)
        raise TimeoutError(f"participant {self.token} not done after {deadline} s")


def make_participants(base: str | Callable[[], str], raters: list, *, ages=None, genders=None,
                      timeout: float = 30.0) -> list[Participant]:
    """One :class:`Participant` per rater (ages 22-31 and the four gender options in turn by default)."""
    ages = ages or [22 + (k * 3) % 10 for k in range(len(raters))]
    genders = genders or [("female", "male", "diverse", "no-answer")[k % 4] for k in range(len(raters))]
    return [Participant(base, r, age=a, gender=g, timeout=timeout) for r, a, g in zip(raters, ages, genders)]


def run_participants(people: list[Participant], *, deadline: float = 120.0) -> list[Participant]:
    """Run the participants concurrently (one thread each) until all are done; re-raises the first error."""
    errors: list[BaseException] = []

    def _run(p: Participant) -> None:
        try:
            p.run(deadline=deadline)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=_run, args=(p,), daemon=True) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return people


def simulate(base: str | Callable[[], str], raters: list, *, ages=None, genders=None,
             deadline: float = 120.0, timeout: float = 30.0) -> list[Participant]:
    """:func:`make_participants` + :func:`run_participants`."""
    return run_participants(make_participants(base, raters, ages=ages, genders=genders, timeout=timeout),
                            deadline=deadline)


class ServerProcess:
    """``python -m caae_tf study serve STUDY_DIR`` in a child process (tests, demos).

    :meth:`start` waits for the "listening on" line and sets ``url`` and ``admin_token``; :meth:`kill`
    sends a signal (SIGKILL by default) and reaps the child. The child's output is kept in ``lines``.
    """

    def __init__(self, study_dir: str, *, port: int = 0, host: str | None = None, extra: tuple = (),
                 env: dict | None = None):
        self.study_dir, self.port, self.host, self.extra, self.env = study_dir, port, host, tuple(extra), env
        self.proc = None
        self.url: str | None = None
        self.admin_token: str | None = None
        self.lines: list[str] = []

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        import os
        import queue
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "caae_tf", "study", "serve", str(self.study_dir), "--port", str(self.port)]
        if self.host:
            cmd += ["--host", self.host]
        cmd += list(self.extra)
        env = dict(os.environ, **(self.env or {}))
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        q: queue.Queue = queue.Queue()

        def _drain(stream) -> None:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                q.put(line)
            q.put(None)

        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = q.get(timeout=max(0.05, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("admin token:"):
                self.admin_token = line.split(":", 1)[1].strip()
            if line.startswith("listening on "):
                self.url = line.split()[2]
                return self
        self.kill()
        raise RuntimeError("study server did not start:\n" + "\n".join(self.lines))

    def kill(self, sig: int | None = None) -> int | None:
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGKILL if sig is None else sig)
        return self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        import signal

        return self.kill(signal.SIGTERM)

    def __enter__(self) -> "ServerProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.kill()
