"""Audio for `engine run`: the caller from a WAV file or the microphone, the call into a WAV file or
the speaker.

The caller's audio goes out in the session's input format, 20 ms a frame, at real time (or faster
with `--fast` on the simulator). The agent's audio is laid on the call's timeline as it plays, and
cut where a barge-in cut it, so `--audio-out` holds what the caller heard. `--mic` and `--speaker`
use the optional `sounddevice` package (`pip install "realtime-agent-engine[devices]"`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime import events as ev

if TYPE_CHECKING:
    from ..io import CallRecording
    from ..runtime import Session
    from ..spec import Document

#: How long the call may stay quiet after the caller's last word before it is over.
QUIET_SECONDS = 3.0


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("audio")
    group.add_argument(
        "--audio-in", type=Path, metavar="CALLER.wav", help="the caller's side, from a WAV of any format"
    )
    group.add_argument("--audio-out", type=Path, metavar="CALL.wav", help="write the call's audio to a WAV")
    group.add_argument(
        "--mono", action="store_true", help="--audio-out in one channel (default: caller left, agent right)"
    )
    group.add_argument("--fast", action="store_true", help="stream --audio-in as fast as the simulator takes it")
    group.add_argument("--mic", action="store_true", help="the caller from the microphone (needs the devices extra)")
    group.add_argument("--speaker", action="store_true", help="play the agent on the speaker (needs the devices extra)")


def wants_audio(args: argparse.Namespace) -> bool:
    return bool(args.audio_in or args.audio_out or args.mic or args.speaker)


class AudioCall:
    """The audio side of one `engine run` call. Raises `AudioFileError` (from `prepare`) for a WAV that
    cannot be read, and `DeviceUnavailable` for a microphone or speaker that cannot be opened."""

    def __init__(self, args: argparse.Namespace, doc: Document, agent: str | None = None) -> None:
        from ..io import CallRecording, call_formats, read_wav

        self._args = args
        self.fmt_in, self.fmt_out = call_formats(doc, agent)
        self.recording: CallRecording | None = CallRecording(self.fmt_in, self.fmt_out) if args.audio_out else None
        self._caller = read_wav(args.audio_in, self.fmt_in) if args.audio_in else None  # read before the call
        self._speaker: Any = None
        if args.mic:
            from ..io.devices import check_device

            check_device("input")  # before the call starts, not halfway into it
        if args.speaker:
            from ..io.devices import Speaker

            self._speaker = Speaker(self.fmt_out)

    def on_audio(self, audio: ev.Audio) -> None:
        """The session's `on_audio`: the agent's audio, as it arrives (the hot path: no parsing beyond base64)."""
        data = base64.b64decode(audio.data)
        if self.recording is not None:
            self.recording.agent(data)
        if self._speaker is not None:
            self._speaker.play(audio.item_id, data)

    async def follow(self, session: Session) -> None:
        """Cut the recording (and the speaker) where the session cut the agent off."""
        async for event in session.subscribe():
            if isinstance(event, ev.AudioInterrupted):
                if self.recording is not None:
                    self.recording.cut_agent()
                if self._speaker is not None:
                    self._speaker.clear()

    async def converse(self, session: Session, *, opens: bool) -> None:
        """The caller's side: the file (or the microphone until Ctrl-C), then wait for the call to settle.
        `opens`: the agent speaks first."""
        follower = asyncio.create_task(self.follow(session))
        if self._speaker is not None:
            self._speaker.report_to(session.bargein.playback)
        try:
            if opens:
                await session.request_response()
                await _settle(session)
            if self._caller is not None:
                await self._stream(session, self._caller)
            elif self._args.mic:
                from ..io.devices import Microphone

                async with Microphone(self.fmt_in) as mic:
                    print("Listening on the microphone; Ctrl-C ends the call.", file=sys.stderr, flush=True)
                    async for frame in mic:
                        await session.send_audio(frame)
                        if self.recording is not None:
                            self.recording.caller(frame)
            await _settle(session)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _stream(self, session: Session, audio: bytes) -> None:
        from ..io import stream_audio

        speed = 0.0 if self._args.fast else 1.0
        await stream_audio(audio, self.fmt_in, session.send_audio, speed=speed, recording=self.recording)

    def finish(self) -> str | None:
        """Write `--audio-out`; returns a problem to report, or None."""
        if self._speaker is not None:
            self._speaker.close()
        if self.recording is None:
            return None
        try:
            self.recording.write(self._args.audio_out, stereo=not self._args.mono)
        except OSError as exc:
            return f"cannot write {self._args.audio_out}: {exc.strerror or exc}"
        return None


async def _settle(session: Session) -> None:
    """Wait until the call is quiet: no response, tool or playback, for a little while."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while loop.time() - quiet_since < QUIET_SECONDS:
        await asyncio.sleep(0.1)
        if session.link.failed is not None or session.link.closing:
            return
        if not session.idle or session.bargein.playback.audible():
            quiet_since = loop.time()
