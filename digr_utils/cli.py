"""The ``digr`` command: the course's stages without notebooks.

Every subcommand takes ``--preset``, builds what it needs, writes its artifacts under
``artifacts/<preset>/<stage>/`` and prints its key figures as one JSON object on the last line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digr_utils.config import PRESETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="generate or load the dataset and split it; prints its statistics")
    data.add_argument("--preset", choices=sorted(PRESETS), default=None,
                      help="sizes of the run; when left out: $DIGR_PRESET, else tutorial")
    data.add_argument("--regenerate", action="store_true",
                      help="rewrite the bundled shop's files under data/ from its seed")
    data.add_argument("--data", type=Path, default=None,
                      help="a folder of real Amazon data instead of the bundled shop")
    data.add_argument("--format", dest="fmt", default=None,
                      help="with --data: amazon2014 | amazon2018 | amazon2023 | letter | minionerec")
    data.add_argument("--name", default=None,
                      help="with --data: the category or file stem, e.g. Beauty or Instruments")
    args = parser.parse_args(argv)

    from digr_utils.config import get_preset
    from digr_utils.pipeline import DataSpec, data_stage

    preset = get_preset(args.preset, use_env=args.preset is None)
    spec = None
    if args.data is not None:
        if not (args.fmt and args.name):
            parser.error("--data needs --format and --name (e.g. --format letter --name Instruments)")
        spec = DataSpec(args.data, args.fmt, args.name)
    try:
        figures = data_stage(preset, spec, regenerate=args.regenerate)
    except (FileNotFoundError, ValueError) as err:
        print(f"digr {args.command}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
