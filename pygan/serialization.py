"""Files pygan writes with torch.save: tagged with a format name and version,
written atomically, verified and read back with weights_only=True and clear
errors."""
import os
import tempfile
import zipfile
from pathlib import Path

import torch


class WriteFailed(OSError):
    """A tagged file could not be written; the file it would replace is intact."""


def _stale_temporaries(path: Path) -> list[Path]:
    """Temporary files of earlier writes to ``path`` that never finished (the
    process was killed between mkstemp and the rename)."""
    return [p for p in path.parent.glob(f".{path.name}.*.tmp") if p.is_file()]


def save_tagged(path: str | os.PathLike, fmt: str, version: int, payload: dict) -> Path:
    """Writes {"format": fmt, "version": version, **payload} to a temporary
    file beside ``path``, flushes it to disk and renames it over ``path``: a
    crash at any moment leaves the old file or the new one, never a torn one.
    The payload must hold only tensors, containers and plain Python values.

    Every record of the zip archive torch writes carries a CRC-32
    (``torch.serialization.set_crc32_options``, on by default), which
    :func:`load_tagged` verifies. Temporaries left by killed writes to the same
    path are removed after a successful write (one writer per path is assumed).

    Raises:
        WriteFailed: naming ``path``, when the file cannot be written (disk
            full, a file size limit, permissions); the previous file at
            ``path``, if any, is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteFailed(f"could not write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": fmt, "version": version, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        # torch reports a failed write as "enforce fail at inline_container.cc ...";
        # its first line is enough to tell disk full from a size limit.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        before = (f"the previous {path.name} is intact" if path.exists()
                  else f"no {path.name} existed before")
        raise WriteFailed(f"could not write {path} (disk full, a file size limit or "
                          f"permissions?): {reason}; {before}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in _stale_temporaries(path):
        stale.unlink(missing_ok=True)
    return path


def _verify_archive(path: Path) -> None:
    """Checks every record's CRC-32 and the archive's directory, so a flipped
    bit anywhere in the data is refused instead of loaded as altered tensors."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"{path} is damaged (truncated or corrupt?): "
                         f"{type(exc).__name__}: {exc}") from None
    if bad is not None:
        raise ValueError(f"{path} is damaged: record {bad!r} fails its CRC-32 check "
                         f"(a corrupted copy or disk?)")


def load_tagged(path: str | os.PathLike, fmt: str, version: int, what: str,
                missing_hint: str = "") -> dict:
    """Reads a file written by :func:`save_tagged` (tensors on the CPU) after
    verifying the archive's checksums. Raises FileNotFoundError for a missing
    file (with ``missing_hint``) and ValueError naming the file for a
    truncated, corrupt, foreign or other-version one. ``what`` names the kind
    of file in the messages."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}{missing_hint}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable pygan {what} (truncated, corrupt or "
                         f"not written by torch.save?)")
    _verify_archive(path)
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
