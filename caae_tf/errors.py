"""User-facing errors: the CLI prints these as one line (``caae-tf: error: ...``) and exits 2."""


class UserError(Exception):
    """Base class for errors caused by input the user controls (files, labels, config, arguments)."""


class DataError(UserError, ValueError):
    """A dataset, CSV or record file is unusable; the message names the file (and row/column)."""


class ModelError(UserError, ValueError):
    """A model directory/SavedModel is missing or incompatible; the message names the path."""


class TrainingError(UserError, RuntimeError):
    """Training cannot start or had to stop (unwritable run dir, non-finite loss, ...)."""
