"""Speed of the bundled SmolLM2 on this machine: tokens/s and items/minute, by batch size.

    python benchmarks/smollm2_speed.py [--items 16] [--device cpu]

Uses the same one-shot item prompt and settings as the shipped answers (scripts/precompute_smollm2.py).
"""
import argparse
import time
from dataclasses import replace

from digr_utils.config import PRESETS
from digr_utils.data.world import load_shop
from digr_utils.interests.backends import LocalHF
from digr_utils.interests.prompts import item_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    items = load_shop(PRESETS["ci"]).dataset.items.head(args.items)
    conversations = [item_prompt(t, d, n_examples=1) for t, d in zip(items["title"], items["description"])]
    start = time.perf_counter()
    llm = LocalHF(device=args.device)
    print(f"model load: {time.perf_counter() - start:.1f} s on {llm.device}")
    llm.complete(conversations[:1])  # warm-up
    for batch in (1, 8, 16):
        settings = replace(llm.settings, batch_size=batch)
        start = time.perf_counter()
        done = llm.complete(conversations, settings)
        seconds = time.perf_counter() - start
        tokens = sum(c.tokens for c in done)
        print(f"batch {batch:2d}: {tokens / seconds:6.1f} tokens/s, "
              f"{60 * len(done) / seconds:6.1f} items/minute ({len(done)} items, {seconds:.1f} s)")


if __name__ == "__main__":
    main()
