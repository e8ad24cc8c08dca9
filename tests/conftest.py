"""Every test writes its runs under one temporary artifacts folder, never the repository's, so
the suite neither reads what a notebook run left behind nor leaves anything there. Tests that
isolate their runs further still share one embedding cache (keyed per text and model), so the
bundled encoder embeds each text once per session."""
import pytest
import torch


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
