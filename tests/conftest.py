"""Every test writes its runs under one temporary artifacts folder, never the repository's, so
the suite neither reads what a notebook run left behind nor leaves anything there. Tests that
isolate their runs further still share one embedding cache (keyed per text and model), so the
bundled encoder embeds each text once per session."""
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration


@pytest.fixture(autouse=True, scope="session")
def _session_artifacts(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGR_ARTIFACTS", str(tmp_path_factory.mktemp("artifacts")))
        patch.setenv("DIGR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy machine two OpenMP threads
    wait on each other (10x slower here); the setting is restored for other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def local_server():
    """Start loopback HTTP servers: ``start(handle)`` answers every GET and POST with
    ``handle(method, headers, body) -> (status, headers, body)`` and returns the server's
    address; each is shut down after the test. The fake chat servers of the LLM tests."""
    servers = []

    def start(handle) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                status, headers, body = handle(self.command, dict(self.headers),
                                               self.rfile.read(length))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# A tiny random T5 over 40 tokens, a 30-item catalogue and four histories, shared by the
# decoding and GRPO tests (a test file that defines its own `model` fixture overrides this one).
TINY_VOCAB = 40


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = T5Config(vocab_size=TINY_VOCAB, d_model=32, d_ff=64, num_layers=1,
                      num_decoder_layers=1, num_heads=2, decoder_start_token_id=0,
                      pad_token_id=0, eos_token_id=1)
    return T5ForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def catalog():
    """30 of the 4 x 4 x 3 SIDs, tokens 4-7, 10-13 and 20-22 by position."""
    combos = np.array(list(itertools.product(range(4), range(4), range(3))))
    picked = np.random.default_rng(0).choice(len(combos), size=30, replace=False)
    return combos[picked] + np.array([4, 10, 20])


@pytest.fixture(scope="module")
def users():
    """Four histories of 9 tokens, the last one padded after 6."""
    ids = torch.as_tensor(np.random.default_rng(1).integers(2, TINY_VOCAB, size=(4, 9)))
    mask = torch.ones_like(ids)
    mask[3, 6:] = 0
    return ids, mask
