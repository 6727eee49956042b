"""Crash-safe small-file writes (no TensorFlow): a reader, or a process killed mid-write, sees either the
old or the new content of a file, never a truncated one.

Used for the run dir's ``config.yaml`` (read back on ``--resume``) and ``status.json``. TensorFlow's
``CheckpointManager`` already writes its ``checkpoints/checkpoint`` state file this way
(``file_io.atomic_write_string_to_file``: temp file + rename) and only *after* the checkpoint's
``.data``/``.index`` files are complete, so the state file never names a partial checkpoint.
"""

from __future__ import annotations

import os
import tempfile


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, ``fsync`` and ``os.replace``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp creates 0600; keep the usual permissions
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
