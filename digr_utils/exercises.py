"""Checkers for the course's build-it exercises: run a student's function and the package's on
the same small inputs and say, in a sentence, where they first differ."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np


def _close(a: Any, b: Any, atol: float) -> bool:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    if hasattr(b, "detach"):
        b = b.detach().cpu().numpy()
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y, atol) for x, y in zip(a, b))
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return a == b
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=1e-5, equal_nan=True))


def check(mine: Callable, reference: Callable, cases: Iterable[tuple], name: str | None = None,
          atol: float = 1e-6) -> bool:
    """Call ``mine(*case)`` and ``reference(*case)`` for every case; print whether they agree.

    Returns True when every case agrees. A function that still returns ``None`` is reported as
    not written yet rather than as wrong.
    """
    name = name or getattr(mine, "__name__", "your function")
    cases = list(cases)
    for i, case in enumerate(cases):
        got = mine(*case)
        if got is None:
            print(f"{name} is not written yet: it returned None (fill in the cell above)")
            return False
        want = reference(*case)
        if not _close(got, want, atol):
            shown = ", ".join(_short(x) for x in case)
            print(f"{name} differs on case {i + 1} of {len(cases)}: inputs ({shown})\n"
                  f"  yours:   {_short(got)}\n  package: {_short(want)}")
            return False
    print(f"{name} agrees with the package on all {len(cases)} cases")
    return True


def _short(x: Any, width: int = 120) -> str:
    text = np.array2string(np.asarray(x.detach().cpu() if hasattr(x, "detach") else x),
                           precision=4, threshold=12) if not isinstance(x, str) else repr(x)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
