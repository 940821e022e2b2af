"""The nightly benchmark on the development data (``folder`` datasets over ../shared/data), run twice.

    .venv/bin/python benchmarks/nightly_dev.py [--data /work/shared/data] [--limit 3] [--runs 2] [--out DIR]

Greatest Hits dev: its seeded 25 % hold-out ("test"); Foley-in-the-wild dev: all of it (its labels.csv
has other columns, so labels are off). The second run compares with the first (the deltas artifact);
each prints its per-configuration metrics, comparison and plot path as JSON. With ``--out`` the
Prefect artifacts each run published (read back from the API: the table and the deltas) and the
plots are written there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from pathlib import Path


async def _artifacts(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def _save_artifacts(state, out: Path, run: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for artifact in asyncio.run(_artifacts(state.state_details.flow_run_id)):
        if artifact.type == "table":
            (out / f"run{run}-{artifact.key}.json").write_text(json.dumps(json.loads(artifact.data), indent=1))
        else:
            (out / f"run{run}-{artifact.key}.md").write_text(artifact.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write each run's artifacts and the plots here")
    args = parser.parse_args()
    from flows.benchmark_flow import benchmark

    data = Path(args.data)
    datasets = [
        {"root": str(data / "greatest-hits-dev"), "name": "greatest-hits-dev", "holdout_fraction": 0.25,
         "split": "test"},
        {"root": str(data / "foley-wild-dev"), "name": "foley-wild-dev", "labels": None},
    ]
    engines = [{"envelope_engine": "preview", "synth_engine": "foley"}]
    for run in range(1, args.runs + 1):
        state = benchmark(datasets=datasets, engines=engines, limit=args.limit, return_state=True)
        summary = state.result(raise_on_failure=False)
        print(json.dumps({"state": state.type.value, "message": state.message, **summary}, default=str, indent=1))
        if args.out:
            _save_artifacts(state, args.out, run)
            for config in summary["configs"]:
                if config["plot"]:
                    shutil.copy(config["plot"], args.out / Path(config["plot"]).name)


if __name__ == "__main__":
    main()
