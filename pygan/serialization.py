"""Files pygan writes with torch.save: tagged with a format name and version,
written atomically, read back with weights_only=True and clear errors."""
import os
import tempfile
from pathlib import Path

import torch


def save_tagged(path: str | os.PathLike, fmt: str, version: int, payload: dict) -> Path:
    """Writes {"format": fmt, "version": version, **payload} to a temporary
    file beside ``path``, flushes it to disk and renames it over ``path``: a
    crash at any moment leaves the old file or the new one, never a torn one.
    The payload must hold only tensors, containers and plain Python values."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": fmt, "version": version, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_tagged(path: str | os.PathLike, fmt: str, version: int, what: str,
                missing_hint: str = "") -> dict:
    """Reads a file written by :func:`save_tagged` (tensors on the CPU).
    Raises FileNotFoundError for a missing file (with ``missing_hint``) and
    ValueError naming the file for a truncated, corrupt, foreign or
    other-version one. ``what`` names the kind of file in the messages."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}{missing_hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for torn or foreign files
        raise ValueError(f"{path} is not a readable pygan {what} (truncated or corrupt?): "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a pygan {what}")
    if payload.get("version") != version:
        raise ValueError(f"{path} is a version {payload.get('version')!r} {what}; this pygan "
                         f"reads version {version}")
    return payload
