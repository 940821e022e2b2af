#!/usr/bin/env bash
# Start a worker of the sonorize-gpu pool on a GPU machine, one flow run per GPU at a time.
# The pool is a Docker work pool: the machine needs Docker with the NVIDIA container toolkit, and
# the worker needs prefect-docker (pip install 'sonorize[docker]'); without it Prefect only says
# "Unable to start worker", so this script checks first and names the package.
# Usage: bash docker/gpu-worker.sh [more `prefect worker start` options]
#   GPU_SLOTS_HERE=N overrides the GPU count (default: the GPUs `nvidia-smi -L` lists).
set -euo pipefail
PREFECT="${PREFECT:-prefect}"
PREFECT_BIN="$(command -v "$PREFECT" || true)"
if [ -z "$PREFECT_BIN" ]; then
  echo "gpu-worker.sh: '$PREFECT' not found: install sonorize (bash setup.sh) and activate its .venv" >&2
  exit 1
fi
PYTHON="$(dirname "$PREFECT_BIN")/python"
[ -x "$PYTHON" ] || PYTHON=python3
if ! "$PYTHON" -c "import prefect_docker" >/dev/null 2>&1; then
  echo "gpu-worker.sh: the sonorize-gpu pool is a Docker work pool and its worker needs prefect-docker," \
       "which is not installed beside $PREFECT_BIN: pip install 'sonorize[docker]'" >&2
  exit 1
fi
SLOTS="${GPU_SLOTS_HERE:-$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)}"
if [ "${SLOTS:-0}" -lt 1 ]; then
  echo "gpu-worker.sh: no GPU here (nvidia-smi -L lists none); CPU machines run: prefect worker start --pool sonorize-cpu" >&2
  exit 1
fi
exec "$PREFECT" worker start --pool sonorize-gpu --type docker --limit "$SLOTS" "$@"
