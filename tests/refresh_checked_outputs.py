"""Store the expected outputs of the cells nbval checks (``# NBVAL_CHECK_OUTPUT``).

The notebooks are committed without outputs, except in checked cells, whose outputs are the
reference nbval compares against. After editing such a cell, run ``make checked-outputs``.
"""
import sys

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def refresh(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(executed, timeout=900, kernel_name="python3").execute()
    stored = 0
    for cell, ran in zip(nb.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        keep = MARK in cell.source
        cell.outputs = ran.outputs if keep else []
        cell.execution_count = ran.execution_count if keep else None
        stored += keep
    nbformat.write(nb, path)
    return stored


if __name__ == "__main__":
    for notebook in sys.argv[1:]:
        print(f"{notebook}: stored the outputs of {refresh(notebook)} checked cell(s)")
