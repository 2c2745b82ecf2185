"""Files that appear whole or not at all, never clobbered, and never half-written.

Every writer in labkit writes to a hidden partial file beside its final name, then *publishes*
it in one step:

- the partial file's name is unique to the run, ``.<name>.<pid>.<random>.partial<suffix>``, so two
  runs writing the same output never write into one file;
- publishing without `overwrite` is no-clobber at the moment it happens (a hard link, which fails
  if the name exists, then the partial name is removed): of two runs racing for one name, one
  wins and the other gets FileExistsError; with `overwrite` it is an atomic rename;
- an error or a signal (the CLI turns SIGTERM into an exception) removes the partial file; a
  killed run (SIGKILL, power loss) leaves its partial file, which the next write to the same
  name removes once the process that made it is gone.

:func:`check_output` answers, before any work starts, whether a path can be written at all.
"""
from __future__ import annotations

import errno
import json
import os
import re
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

_PARTIAL = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.partial(?P<suffix>\.[^.]*)?$")


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse, naming `path`, an output that exists (unless `overwrite`), is a folder, or lies where
    nothing can be written (a read-only folder, /proc, /sys). Creates nothing: folders that do not
    exist yet are judged by the nearest one that does."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"the output {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: the output folder {existing} is not writable")
    try:                                                  # what os.access cannot see: /proc, /sys, read-only mounts
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".labkit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PermissionError(f"cannot write {path}: the output folder {existing} is not writable "
                              f"({e.strerror or e})") from None
    return path


def partial_path(path: str | os.PathLike) -> Path:
    """A new, empty, uniquely named partial file beside `path` (created here, so no other run can take it)."""
    path = Path(path)
    remove_stale_partials(path)
    suffix = path.suffix                                  # kept last: some writers choose the format by it
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial{suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return tmp
        except FileExistsError:
            continue


def publish(tmp: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Give the finished partial file `tmp` its final name `path` in one step (see the module docstring).
    The partial file is gone afterwards, whatever happens."""
    tmp, path = Path(tmp), Path(path)
    try:
        if overwrite:
            os.replace(tmp, path)
            return path
        try:
            os.link(tmp, path)                            # fails if `path` exists: no clobbering, even in a race
        except FileExistsError:
            raise FileExistsError(f"{path} appeared while this run was writing it (another run?); this run's "
                                  "output was discarded: pass --overwrite (overwrite=True) to replace it") from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))   # no hard links here: claim the
            os.replace(tmp, path)                                                  # name exclusively, then fill it
        return path
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Remove the partial files of `path` left by runs that no longer exist (killed, crashed)."""
    path = Path(path)
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return removed
    for p in folder.glob(f".{glob_escape(path.name)}.*.partial*"):
        m = _PARTIAL.fullmatch(p.name)
        if m and m["name"] == path.name and not _alive(int(m["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                               # someone else's process: alive
        return True
    return True


@contextmanager
def writing(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """``with writing(path) as tmp: save(tmp)``: the partial file to write, published as `path` when the
    block ends without an error (replacing it, unless `overwrite` is False), removed when it does not."""
    tmp = partial_path(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    publish(tmp, path, overwrite=overwrite)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write (or replace) a text file atomically."""
    with writing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def save_npz_atomic(path: str | os.PathLike, **arrays) -> None:
    """np.savez_compressed(path, **arrays), atomically (replacing `path`, whatever its suffix)."""
    with writing(path) as tmp, open(tmp, "wb") as f:        # a file object: numpy appends no ".npz"
        np.savez_compressed(f, **arrays)
