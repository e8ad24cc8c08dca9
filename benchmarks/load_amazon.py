"""Time the Amazon loaders on the shared benchmark folders: detection, load, digest, split, stats.

Run: ``python benchmarks/load_amazon.py [--root FOLDER]`` (default: ``shared_benchmarks()``,
i.e. ``$DIGR_BENCHMARKS`` or ``../shared/benchmarks/amazon`` beside the repo).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from digr_utils.data import leave_one_out
from digr_utils.data.amazon import detect, load, shared_benchmarks
from digr_utils.data.dataset import dataset_digest

#: The shared datasets' sub-folders (format and file stem are detected).
CASES = ["beauty", "instruments", "industrial_and_scientific"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=shared_benchmarks())
    root = parser.parse_args(argv).root
    for folder in CASES:
        if not (root / folder).is_dir():
            print(f"{folder}: skipped, no folder {root / folder}")
            continue
        start = time.perf_counter()
        fmt, name = detect(root / folder)
        detected = time.perf_counter()
        ds = load(root / folder, fmt, name)
        loaded = time.perf_counter()
        digest = dataset_digest(ds)
        digested = time.perf_counter()
        split = leave_one_out(ds)
        done = time.perf_counter()
        stats = {**ds.stats(), "new_test_targets": round(float(split.target_is_new().mean()), 4)}
        print(f"{name} ({fmt}): detect {1000 * (detected - start):.1f} ms, load "
              f"{loaded - detected:.2f} s, digest {digest} in {1000 * (digested - loaded):.1f} ms, "
              f"leave_one_out {done - digested:.2f} s, total {done - start:.2f} s")
        print("  " + json.dumps(stats))


if __name__ == "__main__":
    main()
