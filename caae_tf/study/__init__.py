"""Paper 001's user study (Mertes et al. 2021, §4.2, Fig. 4) as a tool: ``caae-tf study build|serve|report``.

A *study directory* holds everything one survey needs::

    STUDY_DIR/
      study.json        public settings (title, emotions, Likert labels, number of images, image size)
      manifest.json     PRIVATE: every image's opaque id, source (real | generated), true emotion, origin
      images/<id>.png   the stimuli, all re-encoded to the same size and format (names are random ids)
      responses.sqlite  participants and their ratings (created by ``serve``; SQLite in WAL mode)
      secret            PRIVATE: server-side keys (admin token, answer-ticket key), mode 0600

Modules:

* :mod:`caae_tf.study.build` — picks real images from any labelled source and generated ones from a cGAN
  (one-hot labels), a CAAE (edits to each emotion's circumplex (valence, arousal)) or a folder of images
  made by any other generator; the only module that needs TensorFlow (imported lazily).
* :mod:`caae_tf.study.db` — the SQLite store (WAL, one transaction per answered image).
* :mod:`caae_tf.study.server` — the Flask app participants and the researcher use.
* :mod:`caae_tf.study.report` — Fig. 4, a CSV of every rating and a JSON summary with Mann–Whitney U tests.
* :mod:`caae_tf.study.simulate` — scripted participants over HTTP (tests, demos; never real data).

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

#: Likert scale of paper 001 §4.2 (1 = strongly agree … 5 = strongly disagree).
LIKERT_LABELS: tuple[str, ...] = ("strongly agree", "agree", "neither agree nor disagree", "disagree",
                                  "strongly disagree")
LIKERT_MIN, LIKERT_MAX = 1, 5
#: Ratings counted as "recognised" when given to the image's true emotion (1 or 2 = agree).
AGREE_MAX = 2

STUDY_JSON = "study.json"
MANIFEST_JSON = "manifest.json"
IMAGES_DIR = "images"
DB_FILE = "responses.sqlite"
SECRET_FILE = "secret"
SOURCES = ("real", "generated")
