"""The ``digr`` command: the course's stages without notebooks.

Every stage subcommand takes ``--preset``, builds what it needs, writes its artifacts under
``artifacts/<preset>/<stage>/`` and prints its key figures as one JSON object on the last line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digr_utils.config import PRESETS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def stage(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="sizes of the run; when left out: $DIGR_PRESET, else tutorial")
        p.add_argument("--data", type=Path, default=None,
                       help="a folder of real Amazon data instead of the bundled shop")
        p.add_argument("--format", dest="fmt", default=None,
                       help="with --data: amazon2014 | amazon2018 | amazon2023 | letter | minionerec")
        p.add_argument("--name", default=None,
                       help="with --data: the category or file stem, e.g. Beauty or Instruments")
        return p

    data = stage("data", "generate or load the dataset and split it; prints its statistics")
    data.add_argument("--regenerate", action="store_true",
                      help="rewrite the bundled shop's files under data/ from its seed")
    mine = stage("mine", "MLIM: mine deep interests of every item with an LLM; prints their quality")
    mine.add_argument("--backend", choices=["simulated", "smollm2", "openai"], default="simulated",
                      help="simulated annotator panel, the bundled SmolLM2, or an OpenAI-compatible server")
    mine.add_argument("--base-url", default=None, help="with --backend openai: e.g. http://localhost:8000/v1")
    mine.add_argument("--model", default=None, help="with --backend openai: the served model's name")
    mine.add_argument("--visual-cues", action="store_true",
                      help="add each item's visual cues (colours, shape) to the prompt")
    label = stage("label", "RLDI: grade mined interests, keep the good ones; prints AUC, kept precision/recall, mean q")
    label.add_argument("--source", choices=["simulated", "smollm2"], default="simulated",
                       help="whose interests to grade: the simulated panel or the bundled SmolLM2's answers")
    label.add_argument("--budget", type=int, default=200, help="how many interests are annotated")
    label.add_argument("--classifier", choices=["logistic", "mlp"], default="logistic")
    label.add_argument("--labels", type=Path, default=None,
                       help="your own labels: a CSV with entity_id, text, label (0/1)")
    label.add_argument("--judge", choices=["smollm2", "openai"], default=None,
                       help="label the annotated subset with an LLM judge instead of the hidden motives")
    label.add_argument("--base-url", default=None, help="with --judge openai")
    label.add_argument("--model", default=None, help="with --judge openai: the served model's name")
    sids = stage("sids", "IEID: semantic IDs from an RQ-VAE; prints collisions, code use and motive purity")
    sids.add_argument("--source", choices=["shallow", "deep"], default="deep",
                      help="item text alone, or fused with RLDI-kept interests and visual cues")
    sids.add_argument("--method", choices=["rqvae", "kmeans"], default="rqvae",
                      help="the RQ-VAE, or residual k-means (the simple alternative)")
    sids.add_argument("--encoder", default="minilm",
                      help="sentence encoder: the bundled minilm, or a sentence-transformers name or folder")
    sft = stage("sft", "stage 1: train the generative recommender on semantic IDs; prints HR/NDCG@5/10")
    sft.add_argument("--source", choices=["shallow", "deep"], default="deep",
                     help="shallow IDs (TIGER) or deep IDs (DeepInterestGR)")
    sft.add_argument("--aux", choices=["on", "off"], default=None,
                     help="interest <-> SID alignment tasks (default: on for deep, off for shallow)")
    sft.add_argument("--seed", type=int, default=None, help="model and shuffling seed (default: the preset's)")
    serve = sub.add_parser("serve-llm", help="serve a local model over an OpenAI-compatible HTTP API")
    serve.add_argument("--model", default=None, help="a transformers model folder (default: bundled SmolLM2)")
    serve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve a classroom network")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key-env", default=None,
                       help="name of an environment variable holding a key clients must send")
    serve.add_argument("--max-tokens", type=int, default=256, help="most new tokens per answer")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve-llm":
        from digr_utils.interests.server import serve_forever

        serve_forever(model=args.model, host=args.host, port=args.port,
                      api_key_env=args.api_key_env, max_tokens=args.max_tokens)
        return 0

    from digr_utils.config import get_preset
    from digr_utils import pipeline

    preset = get_preset(args.preset, use_env=args.preset is None)
    spec = None
    if args.data is not None:
        if not (args.fmt and args.name):
            parser.error("--data needs --format and --name (e.g. --format letter --name Instruments)")
        spec = pipeline.DataSpec(args.data, args.fmt, args.name)
    try:
        if args.command == "data":
            figures = pipeline.data_stage(preset, spec, regenerate=args.regenerate)
        elif args.command == "label":
            if spec is not None:
                parser.error("digr label runs on the bundled shop; on real data use the library "
                             "(digr_utils.labeling) with your mined answers")
            figures = pipeline.label_stage(preset, args.source, args.budget, args.classifier,
                                           args.labels, args.judge, args.base_url, args.model)
        elif args.command == "sft":
            if spec is not None:
                parser.error("digr sft runs on the bundled shop's semantic IDs for now")
            aux = None if args.aux is None else args.aux == "on"
            figures = pipeline.sft_stage(preset, args.source, aux, args.seed)
        elif args.command == "sids":
            figures = pipeline.sids_stage(preset, args.source, args.method, spec, args.encoder)
        else:
            figures = pipeline.mine_stage(preset, args.backend, args.base_url, args.model, spec,
                                          visual=args.visual_cues)
    except (FileNotFoundError, ValueError) as err:
        print(f"digr {args.command}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
