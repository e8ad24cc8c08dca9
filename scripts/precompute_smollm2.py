"""Mine the bundled shop's items with the bundled SmolLM2 and ship the answers in data/.

Notebook 02 shows a real small LLM's interests for every item without making the reader wait
for it. The answers go into an append-only cache (``data/llm/smollm2_<preset>.jsonl``), so an
interrupted run resumes where it stopped; the exact settings and the speed are recorded beside
it in ``smollm2_<preset>.json``.

    python scripts/precompute_smollm2.py --preset ci
    python scripts/precompute_smollm2.py --preset tutorial
"""
import argparse
import hashlib
import json
import platform
import time

import torch
import transformers

from digr_utils.config import PRESETS
from digr_utils.data.world import DATA_DIR, load_shop
from digr_utils.interests.backends import SMOLLM2_GGUF, LocalHF, smollm2_path
from digr_utils.interests.mining import mine_items, prompt_key
from digr_utils.interests.parse import to_mined

N_EXAMPLES = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    args = parser.parse_args()
    shop = load_shop(PRESETS[args.preset])
    folder = DATA_DIR / "llm"
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / f"smollm2_{args.preset}.jsonl"
    backend = LocalHF(device="cpu")
    start = time.perf_counter()
    mined, summary = mine_items(shop.dataset, backend, cache, n_examples=N_EXAMPLES)
    seconds = time.perf_counter() - start
    gguf = smollm2_path() / SMOLLM2_GGUF
    record = {
        "model_file": SMOLLM2_GGUF,
        "model_sha256": hashlib.sha256(gguf.read_bytes()).hexdigest(),
        "backend": backend.name, "model": backend.model,
        "prompt_key": prompt_key(backend, N_EXAMPLES, with_visual=False),
        "n_examples": N_EXAMPLES,  # with prompt_key, what mining.cached_items needs to read them
        "settings": vars(backend.settings),
        "items": len(mined),
        # parsed again with the current parser, as notebook 02 reads them
        "parse_failures": sum(to_mined(m.entity, m.backend, m.model, m.raw).error is not None
                              for m in mined),
        "this_run": {**summary, "device": backend.device, "tokens_per_second": round(summary["tokens"] / max(seconds, 1e-9), 1),
                     "items_per_minute": round(60 * summary["calls"] / max(seconds, 1e-9), 1)},
        "torch": torch.__version__, "transformers": transformers.__version__,
        "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
    }
    out = folder / f"smollm2_{args.preset}.json"
    if summary["calls"] == 0 and out.exists():  # all cached: keep the speed of the run that mined
        record["this_run"] = json.loads(out.read_text())["this_run"]
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
