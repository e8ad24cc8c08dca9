"""Every test writes its runs under one temporary artifacts folder, never the repository's, so
the suite neither reads what a notebook run left behind nor leaves anything there. Tests that
isolate their runs further still share one embedding cache (keyed per text and model), so the
bundled encoder embeds each text once per session."""
import itertools

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
