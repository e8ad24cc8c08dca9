"""Time the Amazon loaders on the shared benchmark folders: load, leave-one-out split, statistics.

Run: ``python benchmarks/load_amazon.py [--root FOLDER]`` (default: ``shared_benchmarks()``,
i.e. ``$DIGR_BENCHMARKS`` or ``../shared/benchmarks/amazon`` beside the repo).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from digr_utils.data import leave_one_out
from digr_utils.data.amazon import load, shared_benchmarks

#: (sub-folder, format, file stem) of each shared dataset.
CASES = [
    ("beauty", "letter", "Beauty"),
    ("instruments", "letter", "Instruments"),
    ("industrial_and_scientific", "minionerec", "Industrial_and_Scientific"),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=shared_benchmarks())
    root = parser.parse_args(argv).root
    for folder, fmt, name in CASES:
        if not (root / folder).is_dir():
            print(f"{name}: skipped, no folder {root / folder}")
            continue
        start = time.perf_counter()
        ds = load(root / folder, fmt, name)
        loaded = time.perf_counter()
        split = leave_one_out(ds)
        done = time.perf_counter()
        stats = {**ds.stats(), "new_test_targets": round(float(split.target_is_new().mean()), 4)}
        print(f"{name} ({fmt}): load {loaded - start:.2f} s, leave_one_out {done - loaded:.2f} s, "
              f"total {done - start:.2f} s")
        print("  " + json.dumps(stats))


if __name__ == "__main__":
    main()
