"""`engine serve` in a subprocess, for the tests of its frontends: on a free port, its base URL read
from its first line, stopped (and its exit checked, when asked) after the block."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from conftest import ROOT


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    proc: subprocess.Popen[str]


@contextmanager
def engine_serve(
    *args: str | Path,
    db: str | Path | None,
    env: dict[str, str] | None = None,
    code: str | None = None,
    clean_exit: bool = False,
) -> Iterator[Served]:
    """`engine serve ARGS --port 0`, recording into `db` (None: the ambient `ENGINE_DB`, which must be
    unset with `--no-record`). `env` adds to this process's environment, without `OPENAI_API_KEY`
    unless `env` sets it (a test never calls OpenAI by accident). `code` runs the server as
    `python -c CODE` (after patches of its own) instead of `python -m engine.serve`. With `clean_exit`,
    the server must exit 0 on SIGTERM."""
    environment = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    environment.update(env or {})
    if db is not None:
        environment["ENGINE_DB"] = str(db)
    launch = [sys.executable, "-c", code] if code else [sys.executable, "-m", "engine.serve"]
    command = [*launch, *map(str, args), "--port", "0"]
    # Its stderr goes to a file: a pipe nobody reads would block a server that logs a lot.
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=environment)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        try:
            if not line.startswith("engine serve: http://"):
                proc.kill()
                proc.wait(5)
                pytest.fail(f"engine serve did not start: {line!r} {_read(err)}")
            yield Served(line.split()[-1].rstrip("/"), proc)
        finally:
            proc.terminate()
            try:
                exit_code = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_code = proc.wait(5)
        if clean_exit:
            assert exit_code == 0, _read(err)


def _read(file: IO[str]) -> str:
    file.seek(0)
    return file.read()[-4000:]
