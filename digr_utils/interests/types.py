"""What every backend returns: interests with a confidence, or a recorded failure."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Interest:
    """One mined interest: a short statement and the LLM's confidence in it (None if not given)."""

    text: str
    confidence: float | None = None


@dataclass
class Mined:
    """One LLM's answer about one entity (an item or a user).

    ``error`` is set (and ``interests`` empty) when the call failed or the answer did not
    parse; ``raw`` keeps the model's text so a failure can be inspected, never invented over.
    ``failed`` tells the two apart: True when no answer came back (an exception, an HTTP error,
    an empty body), so the cache never serves it and the next run asks again; an answer that did
    not parse is kept (``failed`` False), since a better parser may read it later.
    """

    entity: str
    backend: str
    model: str
    interests: list[Interest] = field(default_factory=list)
    reasoning: str = ""
    raw: str = ""
    error: str | None = None
    tokens: int = 0
    failed: bool = False
