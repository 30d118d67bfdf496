"""engine/io: WAV files of any flavour into session formats, frames and pacing, the call recording."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from engine.io import (
    PCM16,
    PCMA,
    PCMU,
    AudioFileError,
    AudioFormat,
    CallRecording,
    frames,
    paced,
    read_wav,
    stream_wav,
)

SPEECH = Path(__file__).parent / "audio" / "speech16k.wav"
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2])
def test_any_wav_becomes_pcm16_24k_mono(tmp_path: Path, rate: int, subtype: str, channels: int) -> None:
    tone = sine(440, 1.0, rate)
    data = np.stack([tone] * channels, axis=1) if channels == 2 else tone
    path = tmp_path / "in.wav"
    soundfile.write(path, data, rate, subtype=subtype)
    pcm = read_wav(path)
    samples = PCM16.decode(pcm)
    assert abs(len(samples) - 24000) <= 2  # one second at 24 kHz
    assert abs(peak_hz(samples, 24000) - 440) < 3
    assert abs(rms(samples[1000:-1000]) - 0.5 / np.sqrt(2)) < 0.03  # level kept (8-bit is coarse)


def test_stereo_channels_are_mixed_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left, right = sine(300, 1.0, 16000), sine(1200, 1.0, 16000)
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    samples = PCM16.decode(read_wav(path))
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 24000)
    strongest = sorted(freqs[np.argsort(spectrum)[-2:]].round())
    assert strongest == [300, 1200]  # both sides are heard


@pytest.mark.parametrize("fmt", [PCMU, PCMA], ids=["pcmu", "pcma"])
def test_g711_at_8k(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / "in.wav"
    soundfile.write(path, sine(500, 0.5, 44100), 44100, subtype="PCM_16")
    coded = read_wav(path, fmt)
    assert len(coded) == 4000  # half a second at 8 kHz, one byte a sample
    back = fmt.decode(coded)
    assert abs(peak_hz(back, 8000) - 500) < 5 and abs(rms(back) - 0.5 / np.sqrt(2)) < 0.02
    assert fmt.silence(20) == fmt.encode(np.zeros(160)) and len(fmt.silence(20)) == 160


@needs_sox
def test_sox_made_files(tmp_path: Path) -> None:
    # sox writes WAVE_FORMAT_EXTENSIBLE for 32-bit and multichannel files, and G.711-coded WAVs
    cases = {
        "ext.wav": ["-r", "44100", "-b", "32", "-c", "4"],
        "ulaw.wav": ["-r", "8000", "-e", "u-law", "-c", "1"],
        "u8.wav": ["-r", "11025", "-b", "8", "-c", "2"],
    }
    for name, opts in cases.items():
        path = tmp_path / name
        subprocess.run(["sox", "-n", *opts, str(path), "synth", "0.5", "sine", "600"], check=True)
        samples = PCM16.decode(read_wav(path))
        assert abs(len(samples) - 12000) <= 2, name
        assert abs(peak_hz(samples, 24000) - 600) < 5, name


@needs_espeak
@needs_sox
def test_espeak_speech_converted_through_sox_keeps_its_length(tmp_path: Path) -> None:
    raw, phone = tmp_path / "raw.wav", tmp_path / "phone.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "Thank you for calling."], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-e", "a-law", str(phone)], check=True)
    seconds = soundfile.info(str(raw)).duration
    for path in (raw, phone):
        pcm = read_wav(path)
        assert abs(len(pcm) / 48 - seconds * 1000) < 2
        assert rms(PCM16.decode(pcm)) > 0.03  # speech, not silence
    assert len(read_wav(SPEECH, PCMU)) == round(soundfile.info(str(SPEECH)).duration * 8000)


def test_unreadable_files_get_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("these are not samples\n")
    flac = tmp_path / "music.flac"
    soundfile.write(flac, sine(440, 0.1, 8000), 8000, format="FLAC")
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 8000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    good = tmp_path / "good.wav"
    soundfile.write(good, sine(440, 0.1, 8000), 8000, subtype="PCM_16")
    cut.write_bytes(good.read_bytes()[:20])
    cases = {
        tmp_path / "missing.wav": "no such file",
        tmp_path: "not a regular file",
        text: "not a readable WAV file",
        flac: "not a WAV file (it holds FLAC",
        empty: "holds no audio",
        cut: "not a readable WAV file",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioFileError) as caught:
            read_wav(path)
        assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value), str(caught.value)


def test_frames_are_20ms_and_keep_the_remainder() -> None:
    data = PCM16.silence(50)
    chunks = list(frames(data, PCM16))
    assert [len(c) for c in chunks] == [960, 960, 480] and b"".join(chunks) == data
    assert [len(c) for c in frames(PCMU.silence(40), PCMU)] == [160, 160]
    with pytest.raises(ValueError):
        list(frames(data, PCM16, ms=0))


async def test_paced_streams_at_real_time_or_faster() -> None:
    chunks = list(frames(PCM16.silence(200), PCM16))  # ten 20 ms frames
    for speed, low, high in ((1.0, 0.17, 0.6), (4.0, 0.04, 0.3), (0, 0.0, 0.05)):
        began = time.monotonic()
        arrivals = [time.monotonic() - began async for _ in paced(chunks, PCM16, speed=speed)]
        assert low <= arrivals[-1] <= high, (speed, arrivals[-1])
        if speed == 1.0:  # frame n is released once the n frames before it have played
            assert all(at >= n * 0.02 - 0.005 for n, at in enumerate(arrivals))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_call_recording_lays_both_sides_on_one_timeline(tmp_path: Path) -> None:
    clock = Clock()
    call = CallRecording(PCMU, PCM16, clock=clock)
    caller = PCMU.encode(sine(300, 1.0, 8000))
    for i, frame in enumerate(frames(caller, PCMU)):  # sent in real time from t=0
        call.caller(frame, at=100.0 + i * 0.02)
    clock.now = 100.5
    reply = PCM16.encode(sine(1000, 0.3, 24000))
    call.agent(reply)  # plays from 0.5 s
    call.agent(reply)  # arrived in the same burst: plays after the first, 0.8 s to 1.1 s
    path = tmp_path / "call.wav"
    call.write(path)
    data, rate = soundfile.read(path, always_2d=True)
    assert rate == 24000 and data.shape[1] == 2
    left, right = data[:, 0], data[:, 1]
    assert abs(len(data) / rate - 1.1) < 0.01 and abs(call.duration - 1.1) < 0.001
    assert abs(peak_hz(left[:rate], rate) - 300) < 3
    assert rms(right[: int(0.49 * rate)]) < 0.001  # the agent is silent until 0.5 s
    assert rms(right[int(0.51 * rate) : int(1.09 * rate)]) > 0.2
    assert abs(peak_hz(right[int(0.5 * rate) : int(1.1 * rate)], rate) - 1000) < 5

    mono = tmp_path / "mono.wav"
    call.write(mono, stereo=False)
    mixed, _ = soundfile.read(mono, always_2d=True)
    assert mixed.shape[1] == 1 and rms(mixed[: int(0.45 * rate), 0]) > 0.2


def test_cut_agent_drops_audio_that_never_played(tmp_path: Path) -> None:
    clock = Clock()
    call = CallRecording(PCM16, PCM16, clock=clock)
    call.agent(PCM16.encode(sine(800, 2.0, 24000)))  # two seconds queued at t=0
    clock.now += 0.7
    call.cut_agent()  # barge-in at 0.7 s: the rest was never heard
    call.caller(PCM16.encode(sine(200, 0.5, 24000)))
    path = tmp_path / "cut.wav"
    call.write(path)
    data, rate = soundfile.read(path, always_2d=True)
    right = data[:, 1]
    assert rms(right[int(0.1 * rate) : int(0.69 * rate)]) > 0.2 and rms(right[int(0.71 * rate) :]) < 0.001
    assert abs(len(data) / rate - 1.2) < 0.01  # the caller's half second from 0.7 s


def test_formats_from_session_and_errors(tmp_path: Path) -> None:
    assert AudioFormat.from_session(None) == PCM16
    assert AudioFormat.from_session({"type": "audio/pcmu"}) == PCMU
    assert AudioFormat.from_session({"type": "audio/pcma"}).session_format == {"type": "audio/pcma"}
    assert PCM16.session_format == {"type": "audio/pcm", "rate": 24000} and PCM16.bytes_per_ms == 48
    with pytest.raises(ValueError, match="unknown audio format"):
        AudioFormat.from_session({"type": "audio/opus"})
    call = CallRecording(PCM16, PCM16)
    call.caller(PCM16.silence(20))
    with pytest.raises(AudioFileError, match="cannot write it"):
        call.write(tmp_path / "no" / "such" / "dir.wav")


async def test_stream_wav_sends_the_caller_paced_with_a_silent_tail_and_records_it(tmp_path: Path) -> None:
    path = tmp_path / "caller.wav"
    soundfile.write(path, sine(440, 0.3, 16000), 16000, subtype="PCM_16")
    sent: list[tuple[float, bytes]] = []
    began = time.monotonic()

    async def send(frame: bytes) -> None:
        sent.append((time.monotonic() - began, frame))

    call = CallRecording(PCMU, PCM16)
    total = await stream_wav(path, PCMU, send, speed=2.0, tail_ms=200, recording=call)
    assert total == 500 and len(sent) == 25 and all(len(f) == 160 for _, f in sent)
    assert sent[-1][0] >= 0.24 * 0.95  # 480 ms of audio before the last frame, at twice real time
    assert rms(PCMU.decode(b"".join(f for _, f in sent[-10:]))) == 0  # the tail is silence
    assert abs(call.duration - 0.5) < 0.05  # faster than real time, the caller track still holds 500 ms

    with pytest.raises(AudioFileError):
        await stream_wav(tmp_path / "missing.wav", PCMU, send)
    assert len(sent) == 25  # nothing sent for a file that cannot be read
