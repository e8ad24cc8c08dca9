"""Every test writes its runs under one temporary artifacts folder, never the repository's, so
the suite neither reads what a notebook run left behind nor leaves anything there. Tests that
isolate their runs further still share one embedding cache (keyed per text and model), so the
bundled encoder embeds each text once per session."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _session_artifacts(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGR_ARTIFACTS", str(tmp_path_factory.mktemp("artifacts")))
        patch.setenv("DIGR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
