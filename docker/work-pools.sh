#!/usr/bin/env bash
# Create sonorize's two work pools and the GPU concurrency limit on the Prefect server at
# PREFECT_API_URL. Idempotent: existing pools and limits are updated, not duplicated.
#   sonorize-cpu  process pool: runs flows in a subprocess of the worker (a laptop, CPU machines)
#   sonorize-gpu  docker pool: each flow run is a container of the GPU image with the machine's
#                 GPUs (device request in prefect.yaml); workers need prefect-docker and Docker
#                 with the NVIDIA container toolkit
#   gpu           task concurrency limit on the `gpu` tag (feature extraction, training,
#                 synthesis): at most GPU_SLOTS such tasks at once across all workers. Only where
#                 there are GPUs: with GPU_SLOTS unset or 0 there is no limit (and an earlier one
#                 is removed), so CPU-only setups never make gpu-tagged tasks wait for a slot.
# Usage: GPU_SLOTS=4 bash docker/work-pools.sh    (4 = the GPUs of the whole fleet)
set -euo pipefail
PREFECT="${PREFECT:-prefect}"
GPU_SLOTS="${GPU_SLOTS:-0}"
case "$GPU_SLOTS" in
  ''|*[!0-9]*) echo "work-pools.sh: GPU_SLOTS must be a whole number (the fleet's GPUs), not '$GPU_SLOTS'" >&2; exit 2 ;;
esac

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
if [ "$GPU_SLOTS" -gt 0 ]; then
  "$PREFECT" concurrency-limit create gpu "$GPU_SLOTS"
  echo "gpu task slots: $GPU_SLOTS"
else
  echo "no gpu task limit (GPU_SLOTS unset): set GPU_SLOTS=<GPUs in the fleet> where GPU workers run"
fi
