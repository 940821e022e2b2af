#!/usr/bin/env bash
# Install sonorize into ./.venv. Usage: bash setup.sh [test]
#   (no argument) the package and its command line
#   test          also the test tools
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
[ "${1:-}" = "test" ] && extras="[test]"
echo "setup: installing sonorize${extras} into .venv (first time: a few minutes)" >&2
# Editable install: Prefect workers started from this folder load the flows from it.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
echo "setup: done. Try: .venv/bin/sonorize --help" >&2
