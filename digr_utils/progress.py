"""Progress bars that only draw where someone watches: a terminal or a notebook.

tqdm writes every refresh as a new line when its output is a file or a pipe, so a log of a
training run became thousands of lines of bar. Here a bar is drawn on a terminal or in Jupyter;
anywhere else the bar is off and one plain line says when the work is done.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal; ``DIGR_PROGRESS=0/1`` decides."""
    forced = os.environ.get("DIGR_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
            return True
    except ImportError:
        pass
    return sys.stderr.isatty()


class _Quiet(tqdm):
    """A disabled tqdm that prints one summary line when closed (if it was meant to show)."""

    def __init__(self, *args: Any, announce: bool = False, **kwargs: Any):
        self._announce, self._start = announce, time.perf_counter()
        self._what = kwargs.get("desc") or "work"
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)

    def __iter__(self):
        yield from super().__iter__()
        self.close()

    def close(self) -> None:
        if self._announce:
            self._announce = False
            print(f"{self._what}: done in {time.perf_counter() - self._start:.1f} s",
                  file=sys.stderr, flush=True)
        super().close()


def progress_bar(iterable: Iterable | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar where one is useful (see :func:`interactive`); a silent stand-in otherwise.

    ``enabled=False`` silences it everywhere. Off a terminal an enabled bar prints a single
    ``<desc>: done in N s`` line when it closes, instead of one line per refresh.
    """
    if enabled and interactive():
        return tqdm(iterable, **kwargs)
    return _Quiet(iterable, announce=enabled, **kwargs)
