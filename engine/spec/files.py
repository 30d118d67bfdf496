"""Files a graph names (`!include`, `instructions_file`, a tests file's `graph:`), confined to a root.

The root is the graph file's folder, or the folder its top-level `root:` names (`root: ..`), which must
contain the graph file and may be neither the filesystem's root nor the home directory. A path that
leaves the root (`../..`, an absolute path, a symlink pointing out), or names something other than a
regular file (a device such as `/dev/zero`, a FIFO, a folder), or a file above `MAX_FILE_BYTES`, is
refused before a byte of it is read: `!include /proc/self/environ` would otherwise put the process's
environment, API keys included, into a prompt.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Largest file a graph may include or name (real prompts are a few KiB).
MAX_FILE_BYTES = 1024 * 1024


def display_path(path: Path) -> str:
    """Paths in findings are relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class FileRefused(Exception):
    """A named file is refused (outside the root, not a regular file, too large) or, with `unreadable`, missing
    or not UTF-8 text."""

    def __init__(self, message: str, *, unreadable: bool = False) -> None:
        super().__init__(message)
        self.unreadable = unreadable


def resolve_root(graph_dir: Path, declared: str | None) -> Path:
    """The folder a graph's files are confined to; raise `FileRefused` for a root that confines nothing.

    `declared` is the graph's `root:` (relative to the graph's folder), or None for the folder itself.
    """
    graph_dir = graph_dir.resolve()
    if declared is None:
        return graph_dir
    if not declared.strip():
        raise FileRefused("root: give a folder relative to the graph's folder, such as '..'")
    if Path(declared).is_absolute():
        raise FileRefused(f"root: '{declared}' is absolute; give it relative to the graph's folder, such as '..'")
    root = (graph_dir / declared).resolve()
    if not graph_dir.is_relative_to(root):
        raise FileRefused(f"root: '{declared}' ({display_path(root)}) does not contain the graph's folder")
    if root == Path(root.anchor) or root == Path.home().resolve():
        where = "the filesystem's root" if root == Path(root.anchor) else "your home directory"
        raise FileRefused(f"root: '{declared}' is {where}, which would confine nothing; name the project's folder")
    return root


def confined_file(base: Path, relative: str, root: Path) -> Path:
    """The regular file `relative` names from folder `base`, inside `root`; raise `FileRefused` otherwise."""
    if not relative.strip():
        raise FileRefused(f"'{relative}' not found (an empty file name)", unreadable=True)
    written = base / relative
    target = written.resolve()
    root_text = f"{display_path(root).rstrip('/')}/"
    if not target.is_relative_to(root):
        link = _link_out(written, root)
        if link is not None:
            raise FileRefused(f"'{relative}' goes through a symlink ({_shown(link)}) pointing outside {root_text}")
        raise FileRefused(
            f"'{relative}' is outside {root_text}: files a graph names lie in its folder "
            "(declare a wider `root:` to allow a parent folder)"
        )
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise FileRefused(f"'{relative}' not found (relative to {display_path(base)}/)", unreadable=True) from None
    except OSError as exc:
        raise FileRefused(f"cannot read '{relative}': {exc.strerror or exc}", unreadable=True) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"'{relative}' is {_kind(info.st_mode)}, not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise FileRefused(f"'{relative}' is {info.st_size // 1024} KiB; files a graph names are at most 1 MiB")
    return target


def read_confined(base: Path, relative: str, root: Path) -> str:
    """The UTF-8 text of `confined_file(...)`; raise `FileRefused` when it is refused or unreadable."""
    path = confined_file(base, relative, root)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FileRefused(f"cannot read '{relative}': not UTF-8 text", unreadable=True) from None
    except OSError as exc:
        raise FileRefused(f"cannot read '{relative}': {exc.strerror or exc}", unreadable=True) from None


def _shown(path: Path) -> str:
    """A path as written (symlinks not followed), relative to the working directory when possible."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _link_out(written: Path, root: Path) -> Path | None:
    """The first symlink along `written` that leads outside `root`, if the path lies in `root` as written."""
    plain = Path(os.path.normpath(written.absolute()))
    if not plain.is_relative_to(root):
        return None
    current = Path(plain.anchor)
    for part in plain.parts[1:]:
        current = current / part
        if current.is_symlink() and not current.resolve().is_relative_to(root):
            return current
    return None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
