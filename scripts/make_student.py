"""Write student copies of the course notebooks: worked solutions removed, every output cleared.

    python scripts/make_student.py [--out student] [notebooks/*.ipynb]

What counts as a solution (the conventions the notebooks follow):
- a code cell tagged ``solution``;
- a markdown cell that introduces one ("**Solution 2**", "**Solution 3, measured:** …");
- a ``<details>`` block in a markdown cell (a folded solution, discussion or answer); the rest of
  that cell (a summary that follows it, say) is kept, and the cell is dropped if nothing is left.

Build-it scaffolds (tagged ``build-it``) and their checker cells stay: they are the exercise.
Each student notebook starts with a note saying it is a student copy and where it came from.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
_DETAILS = re.compile(r"<details>.*?</details>\s*", re.S | re.I)
_SOLUTION_HEADING = re.compile(r"^\s*\*\*Solution\b[^*]*\*\*", re.I)
# A solution cell's hidden flags; a student copy shows everything that is left.
_HIDDEN_KEYS = ("source_hidden", "outputs_hidden")


def is_solution_cell(cell: dict) -> bool:
    if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
        return True
    return cell["cell_type"] == "markdown" and bool(_SOLUTION_HEADING.match(_text(cell)))


def student_notebook(nb: dict, source: str = "") -> dict:
    """A copy of ``nb`` without solutions and outputs (``nb`` itself is not changed)."""
    cells = []
    for cell in nb["cells"]:
        if is_solution_cell(cell):
            continue
        cell = json.loads(json.dumps(cell))
        if cell["cell_type"] == "markdown":
            text = _DETAILS.sub("", _text(cell)).rstrip()
            if not text:
                continue
            cell["source"] = _lines(text)
        elif cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            jupyter = cell.get("metadata", {}).get("jupyter", {})
            for key in _HIDDEN_KEYS:
                jupyter.pop(key, None)
            if "jupyter" in cell.get("metadata", {}) and not jupyter:
                del cell["metadata"]["jupyter"]
        cells.append(cell)
    note = {"cell_type": "markdown", "metadata": {"tags": ["student-copy"]},
            "source": _lines(f"*Student copy{' of `' + source + '`' if source else ''}: the worked "
                             "solutions are removed. Your instructor has them.*")}
    out = dict(nb, cells=[note, *cells])
    return out


def write_student_copies(notebooks: list[Path], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        target.write_text(json.dumps(student_notebook(nb, f"notebooks/{path.name}"), indent=1,
                                     ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to copy (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "student", help="output folder")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in write_student_copies(notebooks, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
