"""`make student`: student copies of the real notebooks keep the exercises and lose every worked
solution and output; the committed notebooks keep their solutions folded and output-free."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("make_student", REPO / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)


def _text(cell):
    return "".join(cell["source"])


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    paths = make_student.write_student_copies(NOTEBOOKS, out)
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in paths}


def test_every_notebook_is_copied(student):
    assert sorted(student) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_student_copy_has_no_solution_and_no_output(student, path):
    nb = student[path.name]
    for cell in nb["cells"]:
        text = _text(cell)
        assert "solution" not in _tags(cell), text[:80]
        assert not re.search(r"\*\*Solution\b|<details|<summary>", text, re.I), text[:200]
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, text[:80]
            assert not cell["metadata"].get("jupyter", {}).get("source_hidden"), text[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_student_copy_keeps_exercises_and_the_last_cell(student, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    nb = student[path.name]
    assert any("## Exercises" in _text(c) for c in nb["cells"])
    assert _text(nb["cells"][-1]) == _text(original["cells"][-1])  # the key-figures cell
    kept = [_text(c) for c in nb["cells"]]
    for cell in original["cells"]:
        if "parameters" in _tags(cell) or "build-it" in _tags(cell):
            assert _text(cell) in kept


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] != "00"], ids=lambda p: p.name[:2])
def test_every_notebook_from_01_has_a_build_it_exercise_with_a_checker(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    scaffolds = [i for i, c in enumerate(cells) if "build-it" in _tags(c)]
    assert scaffolds, f"{path.name} has no cell tagged build-it"
    for i in scaffolds:
        scaffold = _text(cells[i])
        assert re.search(r"^def \w+\(", scaffold, re.M) and "return None" in scaffold, scaffold[:200]
        checker = _text(cells[i + 1])
        assert cells[i + 1]["cell_type"] == "code" and "solution" not in _tags(cells[i + 1])
        assert "check" in checker, f"{path.name}: the cell after a build-it scaffold should check it"
        assert any("solution" in _tags(c) for c in cells[i + 2:]), f"{path.name}: no worked solution"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_committed_solutions_are_folded_and_output_free(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: committed with outputs: {_text(cell)[:80]}"
        if "solution" in _tags(cell):
            hidden = cell["metadata"].get("jupyter", {})
            assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), (
                f"{path.name}: a solution cell should be committed folded, source and output "
                f"(metadata jupyter.source_hidden and outputs_hidden): {_text(cell)[:80]}")


def test_make_student_target_runs_the_script():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^student:.*\n\t.*scripts/make_student\.py", makefile, re.M)


def test_a_details_block_is_cut_and_the_rest_of_its_cell_kept():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["<details><summary>Discussion 3</summary>\n",
                                                             "\n", "answer\n", "</details>\n", "\n",
                                                             "## Summary\n", "- done"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["**Solution 3** (unfold)"]},
        {"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": ["x = 1"], "outputs": [],
         "execution_count": None},
        {"cell_type": "code", "metadata": {"jupyter": {"source_hidden": True}}, "source": ["y = 2"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["2"]}], "execution_count": 3},
    ]}
    cells = make_student.student_notebook(nb)["cells"][1:]  # the first cell is the student-copy note
    assert [_text(c) for c in cells] == ["## Summary\n- done", "y = 2"]
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert "jupyter" not in cells[1]["metadata"]
