"""`engine run` with audio: a caller from a WAV file on the simulator, the call into a WAV, the call in
the store; devices that are not there are one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import GRAPHS, ROOT

SPEECH = ROOT / "tests" / "audio" / "speech16k.wav"


def _engine(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ENGINE_DB")}
    cmd = [sys.executable, "-m", "engine.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=180)


@pytest.mark.skipif(not SPEECH.exists(), reason="tests/audio/speech16k.wav is made by tests/audio/make.sh")
def test_a_caller_from_a_wav_file_is_heard_answered_and_recorded(tmp_path: Path):
    out = tmp_path / "call.wav"
    done = _engine(
        "run", str(GRAPHS / "simple_handoff.yaml"), "--audio-in", str(SPEECH), "--audio-out", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("user: ") for line in lines), done.stdout  # the simulator heard an utterance
    assert "  ⇢ handoff: greeter → haiku_writer" in lines
    assert lines[-1] == "Replay finished on agent 'haiku_writer'."
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == 24000 and audio.ndim == 2 and audio.shape[1] == 2  # caller left, agent right
    caller, agent = audio[:, 0], audio[:, 1]
    speech_seconds = soundfile.info(SPEECH).duration
    assert len(audio) / rate > speech_seconds  # the whole call, on one timeline
    assert np.abs(caller).max() > 0.05 and np.abs(agent).max() > 0.05  # both sides audible
    first_agent = int(np.argmax(np.abs(agent) > 0.02))
    first_caller = int(np.argmax(np.abs(caller) > 0.02))
    assert first_agent < first_caller  # the agent opens the call, then the caller speaks

    listed = _engine("calls", "list", "--format", "json", cwd=tmp_path)
    [call] = json.loads(listed.stdout)
    assert call["frontend"] == "run" and call["agents"] == ["greeter", "haiku_writer"]
    assert (tmp_path / ".engine" / "calls.db").is_file()


def test_an_unreadable_caller_file_is_one_line(tmp_path: Path):
    bad = tmp_path / "caller.wav"
    bad.write_text("not audio")
    done = _engine("run", str(GRAPHS / "simple_handoff.yaml"), "--audio-in", str(bad), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("engine: ") and "caller.wav" in line


def test_a_microphone_that_is_not_there_is_one_line(tmp_path: Path):
    done = _engine("run", str(GRAPHS / "simple_handoff.yaml"), "--mic", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("engine: ") and ("sounddevice" in line or "PortAudio" in line or "microphone" in line)
