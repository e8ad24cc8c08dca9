"""The ``digr`` command: the course's stages without notebooks.

Every stage subcommand takes ``--preset`` and ``--data``, builds what it needs from earlier
stages (reusing runs made with the same inputs), keeps its artifacts in a run folder named by
what made it (``digr runs`` lists them) and prints its key figures as one JSON object on the
last line.
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
                       help="with --data, when its files do not say: amazon2014 | amazon2018 | "
                            "amazon2023 | letter | minionerec")
        p.add_argument("--name", default=None,
                       help="with --data, when its files do not say: the category or file stem, "
                            "e.g. Beauty")
        p.add_argument("--seed", type=int, default=None,
                       help="seed of every seeded step (panel, labels, RQ-VAE, k-means, model); "
                            "default: the preset's")
        return p

    def interests(p: argparse.ArgumentParser, default: str = "panel") -> None:
        from digr_utils.interests.stage import INTEREST_SOURCES

        p.add_argument("--interests", choices=INTEREST_SOURCES, default=default,
                       help="where deep interests come from: none (surface text only), the "
                            "simulated panel (knows the hidden motives; a teaching device), the "
                            "bundled SmolLM2, the zero-shot taxonomy matcher (sentence encoder, "
                            "no LLM), an OpenAI-compatible server, or the oracle (the true motives: "
                            "cheating, an upper bound)")
        p.add_argument("--quality", type=float, default=None,
                       help="with --interests panel: the simulated panel's quality dial, 0 (useless) "
                            "to 1 (the oracle's knowledge); default: the three-annotator panel")
        p.add_argument("--base-url", default=None,
                       help="with --interests openai: e.g. http://localhost:8000/v1")
        p.add_argument("--model", default=None, help="with --interests openai: the served model")
        p.add_argument("--visual-cues", action="store_true",
                       help="add each item's visual cues (colours, shape) to an LLM's prompt")

    def ids(p: argparse.ArgumentParser) -> None:
        from digr_utils.sid.stage import QUANTISERS

        p.add_argument("--sids", choices=QUANTISERS, default="rqvae",
                       help="how item codes are made: an RQ-VAE, residual k-means, or the "
                            "folder's published IDs (LETTER / MiniOneRec)")

    def table_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seeds", type=int, nargs="+", default=None,
                       help="each seed a whole pipeline; the table shows mean ± std "
                            "(default: --seed, else the preset's seed)")
        p.add_argument("--trials", type=int, default=1,
                       help="hyper-parameter settings tried on validation per learned model")

    stage("data", "generate or load the dataset and split it; prints its statistics").add_argument(
        "--regenerate", action="store_true", help="rewrite the bundled shop's files under data/ from its seed")
    interests(stage("mine", "MLIM: mine deep interests of every item; prints their quality"))
    def labels(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("RLDI labels (for mined interests)")
        g.add_argument("--budget", type=int, default=200, help="how many interests are annotated")
        g.add_argument("--classifier", choices=["logistic", "mlp"], default="logistic")
        g.add_argument("--labels", type=Path, default=None,
                       help="your own labels: a CSV with entity_id, text, label (0/1)")
        g.add_argument("--judge", choices=["smollm2", "openai"], default=None,
                       help="label the annotated subset with an LLM judge instead of the hidden motives")
        g.add_argument("--judge-url", default=None, help="with --judge openai: the server's base URL")
        g.add_argument("--judge-model", default=None, help="with --judge openai: the served model")
        g.add_argument("--keep-all", action="store_true",
                       help="the ablation without RLDI: grade nothing, keep every mined interest "
                            "(q_i = 1); its runs are named -keepall")

    def vectors(p: argparse.ArgumentParser) -> None:
        from digr_utils.sid.stage import VectorRecipe

        g = p.add_argument_group("item vectors (what the semantic IDs are made from)")
        g.add_argument("--encoder", default="minilm",
                       help="sentence encoder: the bundled minilm, or a sentence-transformers name or folder")
        g.add_argument("--cue-weight", type=float, default=VectorRecipe().cue_weight,
                       help="weight of each item's visual cues (colours, shape) in its vector; "
                            "0 = the ablation without visual cues; with --vectors appended any "
                            "weight > 0 appends them (default: %(default)s)")
        g.add_argument("--vectors", choices=["fused", "appended"], default="fused",
                       help="fused: surface text, kept interests and cues embedded apart and "
                            "summed (the course's); appended: interests and cues appended to "
                            "the item's text and embedded once (the paper's later release)")

    label = stage("label", "RLDI: grade mined interests, keep the good ones; prints AUC, kept precision/recall, mean q")
    interests(label)
    labels(label)
    sids = stage("sids", "IEID: semantic IDs; prints collisions, code use and motive purity")
    interests(sids)
    labels(sids)
    ids(sids)
    vectors(sids)
    for name, text in (("sft", "stage 1: train the generative recommender on semantic IDs; prints HR/NDCG@5/10"),
                       ("grpo", "stage 2: refine the SFT model by GRPO; prints reward, KL and HR/NDCG@5/10 before and after"),
                       ("pipeline", "every stage in order (data, mine + label, IDs, SFT, GRPO "
                                    "for mined interests), reusing finished runs, then the "
                                    "results table; prints each stage's figures and the table")):
        p = stage(name, text)
        interests(p)
        labels(p)
        ids(p)
        vectors(p)
        if name == "sft":
            p.add_argument("--aux", choices=["on", "off"], default=None,
                           help="interest <-> SID alignment tasks (default: on with mined interests)")
            p.add_argument("--backbone", choices=["t5", "causal"], default="t5",
                           help="the model: a small T5 from scratch, or a decoder-only LLM with LoRA "
                                "(the bundled SmolLM2, or --llm-path; worth it on a GPU)")
            p.add_argument("--llm-path", default=None,
                           help="with --backbone causal: a local Hugging Face causal-LM folder")
        elif name == "grpo":
            p.add_argument("--reward", choices=["interest-aware", "rule", "rank", "ungated"],
                           default="interest-aware",
                           help="interest-aware (hit + valid + prefix + alpha*q on a hit), rule "
                                "(hit only), rank (MiniOneRec's), ungated (q paid on any item)")
            p.add_argument("--rollouts", choices=["beam", "sample"], default="beam",
                           help="G distinct beams of constrained beam search, or G trie-masked samples")
            p.add_argument("--group-size", type=int, default=8, help="rollouts per history (G)")
            p.add_argument("--beta", type=float, default=1e-3, help="weight of the KL to the SFT model")
            p.add_argument("--lr", type=float, default=None, help="default: the tuned GRPOTraining.lr")
            p.add_argument("--epochs", type=int, default=None, help="default: GRPOTraining.epochs (2)")
        else:
            table_options(p)
    evaluate = stage("evaluate", "the results table: popularity, SASRec and the generative "
                     "models on one split; prints one row per model as JSON")
    ids(evaluate)  # the table's models use the default RLDI labels (evaluate_models takes none)
    evaluate.add_argument("--interests", nargs="+", default=None,
                          help="one generative model per interest source (none = TIGER); "
                               "default: none panel on the shop, none with --data")
    table_options(evaluate)
    runs = sub.add_parser("runs", help="list the runs under artifacts/ with their key figures")
    runs.add_argument("--stage", default=None, help="only this stage (data, mine, label, sids, sft, grpo, baselines)")
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
    try:
        figures = _run(parser, args)
    except (FileNotFoundError, ValueError) as err:
        print(f"digr {args.command}: {err}", file=sys.stderr)
        return 2
    from digr_utils import distributed

    if figures is not None and distributed.is_main():  # under torchrun, rank 0 alone prints
        print(json.dumps(figures, default=str))
    distributed.cleanup()
    return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict | None:
    if args.command == "serve-llm":
        from digr_utils.interests.server import serve_forever

        serve_forever(model=args.model, host=args.host, port=args.port,
                      api_key_env=args.api_key_env, max_tokens=args.max_tokens)
        return None
    if args.command == "runs":
        return _list_runs(args.stage)
    from digr_utils.config import get_preset
    from digr_utils.data.stage import DataSpec

    preset = get_preset(args.preset, use_env=args.preset is None)
    spec = None
    if args.data is not None:
        if args.name is not None and ("/" in args.name or "\\" in args.name or ".." in args.name):
            parser.error(f"--name {args.name!r}: give a category or file stem, not a path")
        spec = DataSpec(args.data, args.fmt, args.name)
    elif args.fmt or args.name:
        parser.error("--format and --name describe a --data folder; give --data too")
    if args.command == "data":
        from digr_utils.data.stage import data_stage

        return data_stage(preset, spec, regenerate=args.regenerate)
    if args.command in ("evaluate", "pipeline"):
        seeds = tuple(args.seeds or [preset.seed if args.seed is None else args.seed])
    if args.command == "evaluate":
        from digr_utils.evaluation import evaluate_stage

        sources = args.interests or (["none"] if spec is not None else ["none", "panel"])
        return evaluate_stage(preset, seeds, sources, spec, args.sids, args.trials)
    from digr_utils.interests.stage import InterestSource

    if args.quality is not None and args.interests != "panel":
        parser.error("--quality sets the simulated panel's dial: use it with --interests panel")
    source = InterestSource(args.interests, args.base_url, args.model, args.visual_cues,
                            args.quality)
    if args.command == "mine":
        from digr_utils.interests.stage import mine_stage

        return mine_stage(preset, source, spec, args.seed)
    from digr_utils.labeling.stage import KEEP_ALL, LabelRecipe

    recipe = LabelRecipe(args.budget, KEEP_ALL if args.keep_all else args.classifier, args.judge,
                         args.judge_url, args.judge_model, str(args.labels) if args.labels else None)
    if args.command == "label":
        from digr_utils.labeling.stage import label_stage

        return label_stage(preset, source, recipe, spec, args.seed)
    from digr_utils.sid.stage import VectorRecipe

    vectors = VectorRecipe(args.encoder, cue_weight=args.cue_weight,
                           mode="append" if args.vectors == "appended" else "sum")
    if args.command == "sids":
        from digr_utils.sid.stage import sids_stage

        return sids_stage(preset, source, args.sids, spec, vectors, args.seed, recipe)
    if args.command == "sft":
        from digr_utils.gen.stage import sft_stage

        aux = None if args.aux is None else args.aux == "on"
        backbone = None
        if args.backbone == "causal":
            from digr_utils.gen.causal import CausalConfig

            backbone = CausalConfig(path=args.llm_path)
        elif args.llm_path:
            parser.error("--llm-path names the LLM of --backbone causal: give that too")
        return sft_stage(preset, source, args.sids, aux, args.seed, spec, recipe,
                         backbone=backbone, vectors=vectors)
    if args.command == "grpo":
        from digr_utils.gen.grpo import GRPOConfig, RewardConfig
        from digr_utils.gen.grpo_stage import grpo_stage

        reward = (RewardConfig(gated=False) if args.reward == "ungated"
                  else RewardConfig(kind=args.reward))
        config = GRPOConfig(group_size=args.group_size, rollout=args.rollouts, beta=args.beta)
        overrides = {k: v for k, v in (("lr", args.lr), ("epochs", args.epochs)) if v is not None}
        return grpo_stage(preset, source, args.sids, reward, config, args.seed, spec, recipe,
                          vectors=vectors, **overrides)
    from digr_utils.pipeline import run_pipeline

    return run_pipeline(preset, source, args.sids, spec, seeds, recipe, trials=args.trials,
                        vectors=vectors)


def _list_runs(stage: str | None) -> dict:
    """Print the run index as a table; the JSON line holds one row per run."""
    from digr_utils.runs import index

    table = index(figures=("test all HR@10", "test all NDCG@10", "collision_rate", "roc_auc"))
    if stage is not None:
        table = table[table["stage"] == stage]
    shown = table.drop(columns="folder").dropna(axis=1, how="all")
    print(shown.to_string(index=False) if len(shown) else "no runs yet under artifacts/")
    return {"runs": table.astype(object).where(table.notna(), None).to_dict(orient="records")}


if __name__ == "__main__":
    sys.exit(main())
