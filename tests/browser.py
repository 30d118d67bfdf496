"""Driving the console in a real browser: Debian's chromium (a WAV file as its microphone) against an
offline `engine serve`. A test module uses these fixtures with `pytest_plugins = ["browser"]` after
`pytest.importorskip("playwright.sync_api")` and `pytestmark = needs_chromium`. A failing test leaves a
screenshot of its page in `.cache/screenshots/`.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GRAPHS, ROOT
from serving import engine_serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
SHOTS = ROOT / ".cache" / "screenshots"


SPEECH_AT_S, SPEECH_S = 1.2, 1.6


def speech_like_wav(path: Path, seconds: float = 12.0, rate: int = 48000) -> Path:
    """Silence, then 1.6 s of syllable-like bursts of a voiced tone (120 Hz and harmonics, a 4 Hz
    envelope) from 1.2 s, then silence: the caller speaks once, over the agent's greeting."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        cycle = t - SPEECH_AT_S
        if 0 <= cycle < SPEECH_S:
            envelope = math.sin(math.pi * ((cycle * 4) % 1.0)) ** 2
            voice = sum(math.sin(2 * math.pi * 120 * k * t) / k for k in range(1, 6))
            sample = int(9000 * envelope * voice / 2.3)
        else:
            sample = 0
        frames += struct.pack("<h", sample)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`engine serve graphs/ --port 0 --simulate`, its URL read from its first line."""
    db = tmp_path_factory.mktemp("db") / "calls.db"
    with engine_serve(GRAPHS, "--simulate", db=db, clean_exit=True) as served:  # SIGTERM drains, exits 0
        yield served.url + "/"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    wav = speech_like_wav(tmp_path_factory.mktemp("mic") / "caller.wav")
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@contextlib.contextmanager
def watched_page(browser, name: str) -> Iterator[object]:
    """A fresh page; if the block fails, a screenshot of it as `name`.png. Script errors on the page fail it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, f"script errors on the page: {errors}"
    except BaseException:
        screenshot(page, name)
        raise
    finally:
        context.close()


@pytest.fixture
def page(browser, server: str, request: pytest.FixtureRequest) -> Iterator[object]:
    """A page on the module's server. A failed test's exception never reaches a fixture, so the
    screenshot is taken when pytest's failure count went up."""
    with watched_page(browser, request.node.name) as page:
        page.server = server
        failures = request.session.testsfailed
        yield page
        if request.session.testsfailed > failures:
            screenshot(page, request.node.name)


def start(page, scenario: str, *, muted: bool = True, **selects: str) -> None:
    """Start a call; `muted`: the microphone (the WAV) sends silence, so only typing speaks."""
    page.goto(f"{page.server}?scenario={scenario}")
    page.wait_for_selector("body[data-ready=true]")
    if muted:
        page.click("#mute")
    for name, value in selects.items():
        page.select_option(f"#{name}", value)
    page.click("#call")
    page.wait_for_function("window.consoleState.call && window.consoleState.call.id", timeout=10_000)


def say(page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")
