"""Audio adapters: the session's wire formats, WAV files in and out, 20 ms frames and pacing.

`read_wav` turns a WAV of any rate, width and channel count into a session format (pcm16 24 kHz
mono, or G.711 mu-law / A-law at 8 kHz); `frames` and `paced` cut it into frames and stream them
at real time (`stream_wav`: a caller from a file); `CallRecording` lays a call's two sides on
one timeline and writes it to a WAV.
"""

from .caller import call_formats, stream_audio, stream_wav
from .formats import PCM16, PCMA, PCMU, AudioFormat
from .frames import FRAME_MS, frames, paced
from .recording import CallRecording
from .wav import AudioFileError, read_wav, write_wav

__all__ = [
    "FRAME_MS",
    "PCM16",
    "PCMA",
    "PCMU",
    "AudioFileError",
    "AudioFormat",
    "CallRecording",
    "call_formats",
    "frames",
    "paced",
    "read_wav",
    "stream_audio",
    "stream_wav",
    "write_wav",
]
