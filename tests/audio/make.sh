#!/usr/bin/env bash
# Regenerates the speech fixtures the audio tests stream (needs espeak-ng and sox).
set -euo pipefail
cd "$(dirname "$0")"
espeak-ng -v en-us -w /tmp/engine-need-help.wav "I need help with my order."
# a telephone-ish 16 kHz mono 16-bit file, as a caller recording would be
sox /tmp/engine-need-help.wav -r 16000 -b 16 -c 1 speech16k.wav
rm -f /tmp/engine-need-help.wav
