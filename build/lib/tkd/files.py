"""Files: atomic writes, so a reader never sees half a file and a killed job leaves no torn
output; and checked reads, so a torn or foreign file is one :class:`SpecError` naming it."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import SpecError


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    # through a file object, so the archive's records are named "archive/...", not after the
    # temporary file: the same tensors give the same bytes, run after run
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


# --------------------------------------------------------------------------- reading
def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what} {str(path)!r} does not exist")
    return path


def damaged(path: str | os.PathLike, what: str, err: BaseException) -> SpecError:
    """The error for a file that exists but cannot be read as ``what``."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return SpecError(f"{what} {str(path)!r} is damaged or not a {what} (truncated or foreign?): {reason}")


def read_npz(path: str | os.PathLike, keys: tuple[str, ...], what: str = ".npz file") -> dict:
    """The arrays ``keys`` of an .npz file, read whole."""
    import numpy as np

    path = _existing(path, what)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise SpecError(f"{what} {str(path)!r} lacks the array {missing[0]!r}; expected {list(keys)}")
            return {k: z[k] for k in keys}
    except SpecError:
        raise
    except Exception as err:  # zipfile.BadZipFile, EOFError, ValueError, OSError, ...
        raise damaged(path, what, err) from None


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    import yaml

    path = _existing(path, what)
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise damaged(path, what, err) from None


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = _existing(path, what)
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise damaged(path, what, err) from None


def read_csv(path: str | os.PathLike, columns: tuple[str, ...] = (), what: str = "CSV file", **kwargs):
    """A CSV file as a DataFrame, with the ``columns`` it must have."""
    import pandas as pd

    path = _existing(path, what)
    try:
        df = pd.read_csv(path, **kwargs)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise damaged(path, what, err) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SpecError(f"{what} {str(path)!r} lacks the column {missing[0]!r}; it needs {list(columns)}")
    return df


def read_state(path: str | os.PathLike, what: str = "checkpoint") -> dict:
    """A state dict saved with torch.save, loaded with ``weights_only=True`` onto the CPU."""
    import torch

    path = _existing(path, what)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a torn or foreign file
        raise damaged(path, what, err) from None
    if not isinstance(state, dict):
        raise SpecError(f"{what} {str(path)!r} does not hold a state dict")
    return state
