"""Reading and writing a study directory (layout in :mod:`caae_tf.study`). No TensorFlow, no numpy."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field

from caae_tf.errors import UserError
from caae_tf.study import IMAGES_DIR, MANIFEST_JSON, SECRET_FILE, SOURCES, STUDY_JSON

FORMAT = "caae_tf-study/1"
#: Image ids: 16 random hex digits (``secrets.token_hex(8)``), unrelated to file names, sources or order.
ITEM_ID_RE = re.compile(r"^[0-9a-f]{16}$")


class StudyError(UserError, ValueError):
    """A study directory is missing, incomplete or inconsistent; the message names the file."""


@dataclass
class Study:
    """A loaded study directory: public ``settings`` (study.json) and private ``items`` (manifest.json)."""

    root: str
    settings: dict
    manifest: dict
    items: dict[str, dict] = field(default_factory=dict)  # id -> manifest item

    @property
    def study_id(self) -> str:
        return str(self.settings["study_id"])

    @property
    def emotions(self) -> list[str]:
        return list(self.settings["emotions"])

    def image_path(self, item_id: str) -> str:
        return os.path.join(self.root, IMAGES_DIR, self.items[item_id]["file"])


def new_item_id(taken: set[str]) -> str:
    while True:
        i = secrets.token_hex(8)
        if i not in taken:
            return i


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise StudyError(f"{path}: not found (build the study with `caae-tf study build`)") from None
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise StudyError(f"{path}: expected a JSON object")
    return data


def load_study(root: str | os.PathLike, *, verify_images: bool = True) -> Study:
    """Load and check a study directory: every item has a valid random id, a known source and emotion, and
    an image file directly inside ``images/`` (no path components) whose SHA-256 matches the manifest."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise StudyError(f"{root}: no such study directory")
    settings = _read_json(os.path.join(root, STUDY_JSON))
    manifest = _read_json(os.path.join(root, MANIFEST_JSON))
    where = os.path.join(root, MANIFEST_JSON)
    for key in ("study_id", "emotions"):
        if key not in settings:
            raise StudyError(f"{os.path.join(root, STUDY_JSON)}: missing {key!r}")
    if manifest.get("study_id") != settings["study_id"]:
        raise StudyError(f"{where}: study_id differs from study.json (files of two different studies?)")
    emotions = list(settings["emotions"])
    items: dict[str, dict] = {}
    for k, it in enumerate(manifest.get("items") or []):
        iid, fname = str(it.get("id", "")), str(it.get("file", ""))
        if not ITEM_ID_RE.match(iid) or iid in items:
            raise StudyError(f"{where}: item {k}: invalid or duplicate id {iid!r}")
        if it.get("source") not in SOURCES:
            raise StudyError(f"{where}: item {k}: source must be one of {SOURCES}, got {it.get('source')!r}")
        if it.get("emotion") not in emotions:
            raise StudyError(f"{where}: item {k}: emotion {it.get('emotion')!r} is not one of {emotions}")
        if not fname or os.path.basename(fname) != fname or fname.startswith(".") or "\\" in fname:
            raise StudyError(f"{where}: item {k}: image file must be a plain name inside images/, got {fname!r}")
        path = os.path.join(root, IMAGES_DIR, fname)
        if verify_images:
            if not os.path.isfile(path):
                raise StudyError(f"{path}: image of item {k} is missing")
            if it.get("sha256") and sha256_file(path) != it["sha256"]:
                raise StudyError(f"{path}: image of item {k} changed since the study was built (SHA-256 differs)")
        items[iid] = it
    if not items:
        raise StudyError(f"{where}: the study has no images")
    return Study(root=root, settings=settings, manifest=manifest, items=items)


def load_or_create_secret(root: str | os.PathLike, *, rotate_admin: bool = False) -> dict:
    """Server-side keys in ``STUDY_DIR/secret`` (mode 0600, created once): ``admin_token`` guards the
    researcher pages, ``ticket_key`` signs the per-participant answer tickets. They survive restarts so
    that links and open pages stay valid; ``rotate_admin`` issues a new admin token."""
    path = os.path.join(os.fspath(root), SECRET_FILE)
    data = None
    if os.path.exists(path):
        data = _read_json(path)
        if not data.get("admin_token") or not data.get("ticket_key"):
            raise StudyError(f"{path}: incomplete secret file (delete it to create new keys)")
    if data is None or rotate_admin:
        data = dict(data or {})
        data.setdefault("ticket_key", secrets.token_hex(32))
        data["admin_token"] = secrets.token_urlsafe(24)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return data


def write_json_atomic(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
