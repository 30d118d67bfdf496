"""`--watch`: run a command again each time a file it reads is saved.

Each run is a fresh `engine` process (the same arguments without `--watch`), so python tool
modules, templates and includes are read anew, and a crash of one run never ends the watch.
Changes are found by polling modification times: no extra dependency, and it works on every
file system, network mounts included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

#: Files whose change may change a command's result: graphs, tests, prompts, tool modules, schemas.
WATCHED_SUFFIXES = frozenset({".yaml", ".yml", ".j2", ".jinja", ".md", ".txt", ".py", ".json"})
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".venv", "venv"})
_MAX_FILES = 5000  # a watch started in a huge tree watches its first files, not all of them
POLL_SECONDS = 0.3
_CLEAR = "\x1b[2J\x1b[H"


def watched_files(paths: Iterable[Path]) -> dict[Path, float]:
    """Every watched file in the folders of `paths` (and `paths` themselves), with its mtime."""
    found: dict[Path, float] = {}
    for path in paths:
        for file in [path, *_tree(path.parent if path.suffix else path)]:
            if len(found) >= _MAX_FILES:
                return found
            try:
                found.setdefault(file, file.stat().st_mtime_ns)
            except OSError:
                found.setdefault(file, -1)  # missing now: its appearance is a change
    return found


def _tree(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if Path(name).suffix in WATCHED_SUFFIXES:
                yield Path(root, name)


def watch(command: str, argv: Sequence[str], paths: Sequence[Path]) -> int:
    """Run `engine <command> <argv>` now and after every save under `paths` until interrupted."""
    tty = sys.stdout.isatty()
    try:
        while True:
            seen = watched_files(paths)
            if tty:
                sys.stdout.write(_CLEAR)
            sys.stdout.flush()
            started = time.monotonic()
            code = subprocess.call([sys.executable, "-m", "engine.cli", command, *argv])
            outcome = "ok" if code == 0 else f"failed (exit {code})"
            print(
                f"[{time.strftime('%H:%M:%S')}] engine {command}: {outcome} in {time.monotonic() - started:.2f}s;"
                f" watching {len(seen)} files, Ctrl-C stops",
                flush=True,
            )
            while watched_files(paths) == seen:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return 0


def rerun_argv(argv: Sequence[str]) -> list[str]:
    """The command's own arguments without `--watch` (argv after the command name)."""
    return [arg for arg in argv if arg != "--watch"]
