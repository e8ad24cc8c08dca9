"""Constrained beam search: digr_utils' tensor trie against transformers' generate with a callback.

    python benchmarks/beam_search_speed.py [--users 256 --items 1000 --beams 20 --top-k 10]
    python benchmarks/beam_search_speed.py --min-history 5   # histories of 5-20 items

Both search the same random tutorial-sized T5 for the same users (histories of 20 items x 4 SID
tokens, or of ``--min-history`` to 20 items, right-padded); generate keeps its beams on catalog SIDs with ``prefix_allowed_tokens_fn`` over a dict
trie. Each runs at its own batch size: generate copies every user's encoder states to each of
its beams, so it is fastest in small batches (16 users on a 2-core CPU, about 1.4x its speed at
64), while recommend shares them and prefers 64. Prints users/s for both (CPU with 2 threads;
also CUDA when present), how many users get the same top-k list (same items, same order), the
largest score gap, users/s of the encoder alone, which both searches run once per user, and
users/s of our search in the callers' order with every batch padded to the longest history
(what ``recommend`` did before it sorted users by length); the last line is the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import T5Config, T5ForConditionalGeneration

from digr_utils.gen.decode import BeamSettings, CatalogTrie, constrained_beam_search, recommend

LEVELS, CODES, SUFFIXES, SPECIALS, HISTORY = 3, 32, 8, 4, 20


def random_catalog(n_items: int, seed: int = 0) -> np.ndarray:
    """``(n_items, 4)`` decoder tokens: three random codes of 32 plus a suffix that tells apart
    items sharing them, each position in its own token block after 4 special tokens."""
    codes = np.random.default_rng(seed).integers(0, CODES, size=(n_items, LEVELS))
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1)
    suffix = np.zeros(n_items, dtype=np.int64)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        suffix[members] = np.arange(len(members))
    if suffix.max() >= SUFFIXES:
        raise ValueError(f"random_catalog: {suffix.max() + 1} items share a code; use fewer items")
    offsets = SPECIALS + CODES * np.arange(LEVELS + 1)
    return np.column_stack([codes, suffix]) + offsets


def tutorial_t5(seed: int = 0) -> T5ForConditionalGeneration:
    """A random T5 the size of the tutorial's recommender (d_model 128, 2 + 2 layers)."""
    torch.manual_seed(seed)
    config = T5Config(vocab_size=SPECIALS + LEVELS * CODES + SUFFIXES, d_model=128, d_kv=32,
                      d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5ForConditionalGeneration(config).eval()


def hf_generate(model, input_ids, attention_mask, catalog: np.ndarray, beams: int, top_k: int,
                batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Items and scores from ``model.generate``, constrained by a dict trie in the callback."""
    allowed: dict[tuple[int, ...], list[int]] = {}
    for row in catalog.tolist():
        for t in range(len(row)):
            allowed.setdefault(tuple(row[:t]), []).append(row[t])
    allowed = {prefix: sorted(set(tokens)) for prefix, tokens in allowed.items()}
    item_of = {tuple(row): i for i, row in enumerate(catalog.tolist())}
    depth = catalog.shape[1]

    def prefix_allowed(_batch_id: int, sequence: torch.Tensor) -> list[int]:
        return allowed[tuple(sequence[1:].tolist())]  # sequence[0] is the decoder start token

    items, scores = [], []
    for lo in range(0, len(input_ids), batch_size):
        batch = slice(lo, lo + batch_size)
        out = model.generate(
            input_ids=input_ids[batch], attention_mask=attention_mask[batch],
            num_beams=beams, num_return_sequences=top_k, prefix_allowed_tokens_fn=prefix_allowed,
            max_new_tokens=depth, min_new_tokens=depth, do_sample=False, length_penalty=0.0,
            # every beam ends at max_new_tokens (no EOS), so no beam is cut short either way;
            # "never" is HF's name for the textbook search
            early_stopping="never", output_scores=True, return_dict_in_generate=True)
        sequences = out.sequences[:, 1:].cpu().tolist()
        items.append(np.array([item_of.get(tuple(s), -1) for s in sequences]).reshape(-1, top_k))
        scores.append(out.sequences_scores.float().cpu().numpy().reshape(-1, top_k))
    return np.concatenate(items), np.concatenate(scores)


def our_search(model, input_ids, attention_mask, trie, settings: BeamSettings
               ) -> tuple[np.ndarray, np.ndarray]:
    """Items and scores of :func:`constrained_beam_search` (what ``recommend`` ranks by)."""
    items, scores = [], []
    for lo in range(0, len(input_ids), settings.batch_size):
        batch = slice(lo, lo + settings.batch_size)
        found, score = constrained_beam_search(model, input_ids[batch], attention_mask[batch],
                                               trie, settings.beams, settings.top_k)
        items.append(found.cpu().numpy())
        scores.append(score.cpu().numpy())
    return np.concatenate(items), np.concatenate(scores)


def encode_only(model, input_ids, attention_mask, batch_size: int) -> None:
    """Run just the encoder over every user: the work both searches share, hence their ceiling."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        for lo in range(0, len(input_ids), batch_size):
            batch = slice(lo, lo + batch_size)
            model.get_encoder()(input_ids=input_ids[batch].to(device),
                                attention_mask=attention_mask[batch].to(device))


def best_seconds(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls: other jobs on a shared machine only add time."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def compare(model, input_ids, attention_mask, catalog, settings: BeamSettings, device: str,
            hf_users: int, hf_batch_size: int, repeats: int) -> dict:
    """Time both searches on ``device`` (generate on the first ``hf_users`` users only, in
    batches of ``hf_batch_size``)."""
    model.to(device)
    trie = CatalogTrie(catalog, model.config.vocab_size, device)
    ids, mask = input_ids[:hf_users].to(device), attention_mask[:hf_users].to(device)
    recommend(model, ids[:8], mask[:8], trie, settings)  # warm-up
    ours_s = best_seconds(lambda: recommend(model, input_ids, attention_mask, trie, settings),
                          repeats)
    unsorted_s = best_seconds(lambda: our_search(model, input_ids, attention_mask, trie, settings),
                              repeats)
    same_unsorted = (recommend(model, input_ids, attention_mask, trie, settings)
                     == our_search(model, input_ids, attention_mask, trie, settings)[0]).all(axis=1)
    encoder_s = best_seconds(lambda: encode_only(model, input_ids, attention_mask,
                                                 settings.batch_size), repeats)
    # agreement in float32 on both sides: recommend's bf16 autocast on CUDA may swap near ties
    ours, mine = our_search(model, ids, mask, trie, settings)
    hf_s = best_seconds(lambda: hf_generate(model, ids, mask, catalog, settings.beams,
                                            settings.top_k, hf_batch_size), repeats)
    theirs, their_scores = hf_generate(model, ids, mask, catalog, settings.beams, settings.top_k,
                                       hf_batch_size)
    return {
        "device": device,
        "ours_users_per_s": round(len(input_ids) / ours_s, 1),
        "hf_users_per_s": round(hf_users / hf_s, 1),
        "speedup": round((len(input_ids) / ours_s) / (hf_users / hf_s), 1),
        "encoder_only_users_per_s": round(len(input_ids) / encoder_s, 1),
        "unsorted_full_width_users_per_s": round(len(input_ids) / unsorted_s, 1),
        "sorted_same_top_k_share": float(same_unsorted.mean()),
        "same_top_k_share": float((ours == theirs).all(axis=1).mean()),
        "same_top_k_set_share": float(np.mean([set(a) == set(b) for a, b in zip(ours, theirs)])),
        "max_score_gap": float(np.abs(mine - their_scores).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--hf-users", type=int, default=64, help="users generate searches (slow)")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="users per recommend batch")
    parser.add_argument("--hf-batch-size", type=int, default=16, help="users per generate call")
    parser.add_argument("--min-history", type=int, default=HISTORY,
                        help="shortest history in items (each user's length drawn up to 20)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timings keep the fastest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    catalog = random_catalog(args.items)
    rng = np.random.default_rng(1)
    input_ids = torch.as_tensor(catalog[rng.integers(0, args.items, size=(args.users, HISTORY))]
                                .reshape(args.users, -1))
    lengths = catalog.shape[1] * torch.as_tensor(
        rng.integers(args.min_history, HISTORY + 1, size=args.users))
    attention_mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
    input_ids = input_ids * attention_mask  # right padding with the pad token, 0
    model = tutorial_t5()
    settings = BeamSettings(beams=args.beams, top_k=args.top_k, batch_size=args.batch_size)
    hf_users = min(args.hf_users, args.users)
    results = [compare(model, input_ids, attention_mask, catalog, settings, device, hf_users,
                       args.hf_batch_size, args.repeats)
               for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])]
    for r in results:
        print(f"{r['device']}: recommend {r['ours_users_per_s']} users/s (batches of "
              f"{args.batch_size}), generate {r['hf_users_per_s']} users/s (batches of "
              f"{args.hf_batch_size}) ({r['speedup']}x); same top-{args.top_k} "
              f"(order too) for {r['same_top_k_share']:.0%} of {hf_users} users, same set for "
              f"{r['same_top_k_set_share']:.0%}; largest score gap {r['max_score_gap']:.2g}; "
              f"the encoder alone (the ceiling for both) {r['encoder_only_users_per_s']} users/s; "
              f"unsorted, each batch padded to the longest history, "
              f"{r['unsorted_full_width_users_per_s']} users/s (same top-{args.top_k} as sorted "
              f"for {r['sorted_same_top_k_share']:.0%})")
    print(json.dumps({"users": args.users, "hf_users": hf_users, "items": args.items,
                      "beams": args.beams, "top_k": args.top_k, "threads": args.threads,
                      "min_history": args.min_history,
                      "batch_size": args.batch_size, "hf_batch_size": args.hf_batch_size,
                      "results": results}))


if __name__ == "__main__":
    main()
