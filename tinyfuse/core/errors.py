"""The one error hierarchy of tinyfuse (in ``tinyfuse.core``: every layer may import it)."""


class TinyfuseError(Exception):
    """Root of every error tinyfuse raises on purpose."""


class SpecError(TinyfuseError, ValueError):
    """A spec field is missing, out of range or inconsistent; the message names the field."""


class DataError(TinyfuseError, ValueError):
    """Bad or corrupt input; the message names the file (or field) and what is wrong."""


class BudgetExceeded(TinyfuseError):
    """A model does not fit a board; the message says by how many bytes."""


class ExportError(TinyfuseError):
    """A model cannot be converted, compiled or written; names the op, tensor or field."""


class DeployError(TinyfuseError):
    """Building or running on a board failed, or the board refused a bundle."""
