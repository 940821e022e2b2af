#!/usr/bin/env bash
# Create sonorize's two work pools and the GPU concurrency limit on the Prefect server at
# PREFECT_API_URL. Idempotent: existing pools and limits are updated, not duplicated.
#   sonorize-cpu  process pool: runs flows in a subprocess of the worker (a laptop, CPU machines)
#   sonorize-gpu  docker pool: each flow run is a container of the GPU image with the machine's
#                 GPUs (device request in prefect.yaml); workers need prefect-docker and Docker
#                 with the NVIDIA container toolkit
#   gpu           task concurrency limit on the `gpu` tag (feature extraction, training,
#                 synthesis): at most GPU_SLOTS such tasks at once across all workers
# Usage: GPU_SLOTS=4 bash docker/work-pools.sh    (default: the GPUs nvidia-smi sees here, else 1)
set -euo pipefail
PREFECT="${PREFECT:-prefect}"

if [ -z "${GPU_SLOTS:-}" ]; then
  GPU_SLOTS=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  [ "${GPU_SLOTS}" -gt 0 ] || GPU_SLOTS=1
fi

ensure_pool() {  # name type
  if "$PREFECT" work-pool inspect "$1" >/dev/null 2>&1; then
    echo "work pool $1 exists"
  else
    "$PREFECT" work-pool create "$1" --type "$2"
  fi
}

ensure_pool sonorize-cpu process
ensure_pool sonorize-gpu docker
# A tag limit is replaced by deleting and creating it (the CLI has no update).
"$PREFECT" concurrency-limit delete gpu >/dev/null 2>&1 || true
"$PREFECT" concurrency-limit create gpu "$GPU_SLOTS"
echo "gpu task slots: $GPU_SLOTS"
