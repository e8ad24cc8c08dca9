"""Files written whole or not at all, and read back with errors that name the file and the fix.

Every artifact the course writes (checkpoints, IDs, vocabularies, label tables, ``metrics.json``)
goes through :func:`write_atomic`: the bytes land in a temporary file beside the target, which
is then renamed over it, so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


class ArtifactError(ValueError):
    """A file the course wrote (or was given) cannot be read; the message names it and the fix."""


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object],
                 mode: int = 0o644) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, mode)  # mkstemp makes files private; artifacts are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda f: f.write(data))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as UTF-8 JSON (with a final newline) to ``path`` atomically."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike, fix: str = "delete it and run the stage again") -> Any:
    """Parse a JSON file; a missing, truncated or non-UTF-8 file raises an error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ArtifactError(f"{path}: not UTF-8 text (byte {err.start}); {fix}") from err
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path}: not valid JSON at line {err.lineno} column {err.colno} "
                            f"({err.msg}); the file is damaged or truncated; {fix}") from err


def load_torch(path: str | os.PathLike, fix: str = "delete it and run the stage again",
               map_location: str = "cpu") -> Any:
    """``torch.load(..., weights_only=True)`` with a clear error for a missing or damaged file."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {fix}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as err:
        raise ArtifactError(f"{path}: cannot be read as a checkpoint ({err.__class__.__name__}: "
                            f"{str(err)[:120]}); it is damaged or truncated; {fix}") from err
