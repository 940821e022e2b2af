"""The nightly benchmark on the development data (``folder`` datasets over ../shared/data), run twice.

    .venv/bin/python benchmarks/nightly_dev.py [--data /work/shared/data] [--limit 3] [--runs 2]

Greatest Hits dev: its seeded 25 % hold-out ("test"); Foley-in-the-wild dev: all of it (its labels.csv
has other columns, so labels are off). The second run compares with the first (the deltas artifact);
each prints its per-configuration metrics, comparison and plot path as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from flows.benchmark_flow import benchmark

    data = Path(args.data)
    datasets = [
        {"root": str(data / "greatest-hits-dev"), "name": "greatest-hits-dev", "holdout_fraction": 0.25,
         "split": "test"},
        {"root": str(data / "foley-wild-dev"), "name": "foley-wild-dev", "labels": None},
    ]
    engines = [{"envelope_engine": "preview", "synth_engine": "foley"}]
    for _ in range(args.runs):
        state = benchmark(datasets=datasets, engines=engines, limit=args.limit, return_state=True)
        summary = state.result(raise_on_failure=False)
        print(json.dumps({"state": state.type.value, "message": state.message, **summary}, default=str, indent=1))


if __name__ == "__main__":
    main()
