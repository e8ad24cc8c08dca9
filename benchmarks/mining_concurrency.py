"""Items mined per second through an OpenAI-compatible server, one request at a time and with
2, 4... in flight.

    python benchmarks/mining_concurrency.py [--items 16 --levels 1 2 4 --max-tokens 64]
    python benchmarks/mining_concurrency.py --base-url http://host:8000/v1 --model NAME

Without ``--base-url`` it starts ``digr serve-llm`` (the bundled SmolLM2-135M) on a free port and
stops it after. Each level mines the same first ``--items`` items of the ci shop into its own
new cache, so every item is a real request. ``digr serve-llm`` generates one answer at a time,
so concurrency only overlaps the client's and server's bookkeeping with generation; a server
that batches requests (vLLM) is where the pool pays. The last line is the result as JSON.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from digr_utils.config import get_preset
from digr_utils.data.world import load_shop
from digr_utils.interests.mining import mine_items
from digr_utils.interests.openai_client import OpenAICompatible


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(max_tokens: int, timeout: float = 900.0) -> tuple[subprocess.Popen, str, str]:
    """``digr serve-llm`` on a free port, once it answers; returns it, its URL and model name."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "digr_utils.cli", "serve-llm", "--port",
                               str(port), "--max-tokens", str(max_tokens)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"digr serve-llm exited with code {server.returncode}; run it by "
                               "hand to see why")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                return server, url, json.load(response)["data"][0]["id"]
        except OSError:
            time.sleep(1.0)
    server.terminate()
    raise RuntimeError(f"digr serve-llm did not answer at {url} within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4],
                        help="concurrency levels to time")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per answer")
    parser.add_argument("--base-url", default=None, help="a running server instead of serve-llm")
    parser.add_argument("--model", default=None, help="with --base-url: the served model")
    args = parser.parse_args()

    ds = load_shop(get_preset("ci", use_env=False)).dataset
    server = None
    if args.base_url:
        url, model = args.base_url, args.model
    else:
        server, url, model = _start_server(args.max_tokens)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for level in args.levels:
                client = OpenAICompatible(url, model, api_key_env=None, concurrency=level,
                                          max_tokens=args.max_tokens, timeout=600)
                start = time.perf_counter()
                _, summary = mine_items(ds, client, Path(tmp) / f"c{level}.jsonl",
                                        items=range(args.items), progress=False)
                seconds = time.perf_counter() - start
                rows.append({"concurrency": level, "items": args.items, "seconds": round(seconds, 1),
                             "items_per_second": round(args.items / seconds, 3),
                             "failures": summary["failures"], "tokens": summary["tokens"]})
                print(f"concurrency {level}: {args.items} items in {seconds:.1f} s = "
                      f"{args.items / seconds:.3f} items/s ({summary['failures']} failed, "
                      f"{summary['tokens']} tokens)", flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    base = rows[0]["items_per_second"]
    print(json.dumps({"server": url if args.base_url else "digr serve-llm", "model": model,
                      "max_tokens": args.max_tokens, "rows": rows,
                      "speedup": {r["concurrency"]: round(r["items_per_second"] / base, 2)
                                  for r in rows}}))


if __name__ == "__main__":
    main()
