"""The explorer of notebook 08: a user's history with its shallow text and mined deep interests,
the hidden motives behind a button, each item's semantic ID as a trie path, four recommenders
side by side with every recommendation explained, and the beam search stepping through the trie.

Where widgets cannot render (nbval, a static HTML export) the same :meth:`Explorer.show` prints
the same tables and the beam-search figure instead.
"""
from __future__ import annotations

import html
import os
import re

import numpy as np
import pandas as pd

from digr_utils import explore
from digr_utils.explore import Explanation, Interests, Model

#: The models every view shows beside the chosen DeepInterestGR model.
BASELINES = ("popularity", "SASRec (item IDs)", "TIGER (shallow IDs) · SFT")
DEEP = "DeepInterestGR"


def static_display(flag: bool | None = None) -> bool:
    """Whether to print tables instead of widgets: ``flag`` when given, else ``$DIGR_STATIC=1``,
    else when no notebook kernel (and so no frontend) is there to render a widget."""
    if flag is not None:
        return flag
    if os.environ.get("DIGR_STATIC") == "1":
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return True
    shell = get_ipython()
    return shell is None or type(shell).__name__ != "ZMQInteractiveShell"


class Explorer:
    """One dataset's models and interest sources, viewed one history at a time."""

    def __init__(self, data, models: dict[str, Model], interests: dict[str, Interests],
                 k: int = 10, beams: int = 5, static: bool | None = None):
        self.data, self.models, self.interests = data, models, interests
        self.k, self.beams, self.static = k, beams, static_display(static)
        items = data.dataset.items
        self.titles = items["title"].to_numpy()
        self._index = {str(i): n for n, i in enumerate(items["item_id"])}
        shop = data.shop
        self._counts = (explore.training_motive_counts(data.split.train, shop.item_motives)
                        if shop is not None else None)

    # --- what a view shows (plain tables, also what the widgets render) ---------------------

    def stages(self, source: str) -> list[str]:
        """The stages (SFT, GRPO α=...) DeepInterestGR has for ``source``."""
        prefix = f"{DEEP} · {self.interests[source].source.label} · "
        return [name.removeprefix(prefix) for name in self.models if name.startswith(prefix)]

    def deep(self, source: str, stage: str = "SFT") -> Model:
        return self.models[f"{DEEP} · {self.interests[source].source.label} · {stage}"]

    def history(self, user: int | None = None, items: str | None = None) -> np.ndarray:
        """A user's test history (the held-out test item excluded), or typed item ids."""
        if items:
            wanted = [t.strip() for t in items.replace(";", ",").split(",") if t.strip()]
            unknown = [t for t in wanted if t not in self._index]
            if unknown:
                raise ValueError(f"unknown item id(s) {', '.join(unknown[:5])}; ids look like "
                                 f"{self.data.dataset.items['item_id'].iloc[0]}")
            return np.array([self._index[t] for t in wanted], dtype=np.int64)
        return np.asarray(self.data.split.test_history[user], dtype=np.int64)

    def history_table(self, history: np.ndarray, source: str, stage: str = "SFT",
                      reveal: bool = False) -> pd.DataFrame:
        """Each history item: shallow text, the source's kept interests, its SID as a trie path
        (items under each prefix), and with ``reveal`` its hidden motives."""
        ids, kept = self.deep(source, stage).ids, self.interests[source].kept
        table = pd.DataFrame({
            "item": [self.data.dataset.items["item_id"].iloc[i] for i in history],
            "title (shallow text)": self.titles[history],
            f"kept interests ({self.interests[source].source.label})": ["; ".join(kept[i]) or "—" for i in history],
            "SID code path (items under the prefix)": [_path(ids, i) for i in history]})
        if reveal and self.data.shop is not None:
            table["hidden motives"] = [", ".join(self.data.shop.item_motives[i]) for i in history]
        return table.set_index(pd.RangeIndex(1, len(history) + 1, name="#"))

    def motives(self, user: int) -> dict[str, str]:
        """The hidden truth about ``user``: motives drawn by the shop, motives of ≥ 2 training
        items (what explanations are checked against), and the held-out test item."""
        shop, split = self.data.shop, self.data.split
        target = split.test_target[user]
        from_training = explore.user_motives([self._counts[user]])[0]
        return {"the shop's motives for this user": ", ".join(shop.user_motives[user]),
                "motives of ≥ 2 training items": ", ".join(sorted(from_training)) or "—",
                "held-out test item": f"{self.titles[target]} ({', '.join(shop.item_motives[target])})"}

    def recommendations(self, history: np.ndarray, source: str,
                        stage: str = "SFT") -> tuple[pd.DataFrame, pd.DataFrame]:
        """Top-``k`` of the baselines and DeepInterestGR side by side: titles, and why each was
        recommended (explained with ``source``'s interests; ID-free baselines with its IDs)."""
        chosen = [*BASELINES, self.deep(source, stage).name]
        titles, why = {}, {}
        for name in chosen:
            model = self.models[name]
            top = np.asarray(model.recommender.recommend([history], self.k))[0]
            top = top[top >= 0]
            codes = explore.explaining_ids(model, self.models, source).codes
            links = self.interests[source].links
            titles[name] = self.titles[top]
            why[name] = [self._why(explore.explain(history, i, codes, links), history, codes)
                         for i in top]
        index = pd.RangeIndex(1, self.k + 1, name="rank")
        return (pd.DataFrame({n: pd.Series(t, index=index[:len(t)]) for n, t in titles.items()}),
                pd.DataFrame({n: pd.Series(w, index=index[:len(w)]) for n, w in why.items()}))

    def _why(self, e: Explanation, history: np.ndarray, codes: np.ndarray) -> str:
        if e.anchor is None:
            return "empty history"
        position = int(np.flatnonzero(history == e.anchor)[-1]) + 1
        text = f"{e.shared_levels}/{codes.shape[1] - 1} SID levels with #{position} {self.titles[e.anchor]}"
        if e.interest is None:
            return text + "; no shared interest"
        return text + f"; interest “{e.interest}” ≈ “{e.anchor_interest}” ({e.similarity:.2f})"

    def beam_steps(self, history: np.ndarray, source: str, stage: str = "SFT") -> list[pd.DataFrame]:
        """DeepInterestGR's beam search for this history, one table per step (notebook 05's
        :func:`~digr_utils.gen.explain.beam_steps`), the last with the items' titles."""
        from digr_utils.gen.data import history_tensors
        from digr_utils.gen.explain import beam_steps

        rec = self.deep(source, stage).recommender
        inputs, _ = history_tensors([history], rec.vocab, rec.max_history)
        steps = beam_steps(rec.model, rec.vocab, inputs, beams=self.beams)
        steps[-1]["title"] = self.titles[steps[-1]["item"]]
        return steps

    # --- showing it -----------------------------------------------------------------------

    def show(self, user: int = 0, source: str | None = None, stage: str = "SFT"):
        """The explorer for ``user``: widgets, or in static mode the same tables printed."""
        source = source or next(iter(self.interests))
        if self.static:
            return self._print(user, source, stage)
        return _View(self, user, source, stage).box

    def _print(self, user: int, source: str, stage: str) -> None:
        from IPython.display import Markdown, display

        from digr_utils import viz

        history = self.history(user)
        model = self.deep(source, stage).name
        display(Markdown(f"**User {user}**, interests from {self.interests[source].source.description}, "
                         f"model {model} (static view: widgets off)"))
        display(self.history_table(history, source, stage, reveal=True))
        display(pd.Series(self.motives(user), name="hidden (revealed)").to_frame())
        titles, why = self.recommendations(history, source, stage)
        display(titles, why)
        steps = self.beam_steps(history, source, stage)
        viz.beam_search_steps(steps, self.titles)


class _View:
    """The widgets of one explorer: controls on top, then history, recommendations, beams."""

    def __init__(self, explorer: Explorer, user: int, source: str, stage: str):
        import ipywidgets as w

        self.x = explorer
        n_users = len(explorer.data.split.test_history)
        self.user = w.BoundedIntText(value=user, min=0, max=n_users - 1, description="user")
        self.typed = w.Text(placeholder="or type item ids: I0001, I0042, …", description="history",
                            continuous_update=False)
        self.source = w.Dropdown(options=[(i.source.description, s) for s, i in explorer.interests.items()],
                                 value=source, description="interests", layout=w.Layout(width="460px"))
        self.stage = w.Dropdown(options=explorer.stages(source), value=stage, description="model")
        self.reveal = w.ToggleButton(description="reveal hidden motives", icon="eye",
                                     layout=w.Layout(width="220px"))
        self.step = w.IntSlider(value=1, min=1, max=1, description="beam step")
        self.out = {name: w.Output() for name in ("history", "motives", "recs", "beams")}
        for name, widget in (("user", self.user), ("typed", self.typed), ("reveal", self.reveal),
                             *self.out.items()):
            widget.add_class(f"digr-{name}")
        for control in (self.user, self.typed, self.source, self.stage, self.reveal):
            control.observe(self._refresh, names="value")
        self.step.observe(self._show_step, names="value")
        self.steps: list[pd.DataFrame] = []
        self._quiet = False
        self.box = w.VBox([w.HBox([self.user, self.typed]), w.HBox([self.source, self.stage, self.reveal]),
                           w.HTML("<b>History</b> (oldest first; the held-out test item is not shown)"),
                           self.out["history"], self.out["motives"],
                           w.HTML(f"<b>Top {explorer.k}</b>, each explained"), self.out["recs"],
                           w.HTML("<b>Beam search</b> of DeepInterestGR through the SID trie"),
                           self.step, self.out["beams"]])
        self.box.add_class("digr-explorer")
        self._refresh()

    def _refresh(self, change=None) -> None:
        x, source = self.x, self.source.value
        if self._quiet:
            return
        if change is not None and change["owner"] is self.source:
            self._quiet = True  # new options reset the model dropdown: one refresh, not two
            try:
                self.stage.options = x.stages(source)
            finally:
                self._quiet = False
        stage = self.stage.value or "SFT"
        try:
            history = x.history(self.user.value, self.typed.value)
        except ValueError as err:
            _put(self.out["history"], f"<span style='color:firebrick'>{html.escape(str(err))}</span>")
            return
        typed = bool(self.typed.value.strip())
        _put(self.out["history"], _html(x.history_table(history, source, stage, self.reveal.value)))
        revealed = self.reveal.value and not typed and x.data.shop is not None
        _put(self.out["motives"], _html(pd.Series(x.motives(self.user.value)).to_frame("hidden"))
             if revealed else "")
        titles, why = x.recommendations(history, source, stage)
        _put(self.out["recs"], _side_by_side(titles, why))
        self.steps = x.beam_steps(history, source, stage)
        self.step.max, self.step.value = len(self.steps), 1
        self._show_step()

    def _show_step(self, change=None) -> None:
        step = self.steps[self.step.value - 1]
        note = (f"step {self.step.value} of {len(self.steps)}: the {len(step)} best prefixes; "
                "'allowed_after_parent' = tokens the trie allowed after the prefix they extend")
        _put(self.out["beams"], f"<i>{note}</i>" + _html(step.round(3)))


def _path(ids, i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " → ".join(f"<{letters[p]}_{c}> ({n})" for p, (c, n) in enumerate(explore.code_path(ids.codes, i)))


def _html(table: pd.DataFrame) -> str:
    return _left(table.to_html(escape=True, border=0))


def _side_by_side(titles: pd.DataFrame, why: pd.DataFrame) -> str:
    """One table: per rank and model the title, and under it (smaller) why."""
    cells = titles.copy().astype(object)
    for name in titles:
        cells[name] = [f"{html.escape(str(t))}<br><small style='color:#555'>{html.escape(str(r))}</small>"
                       for t, r in zip(titles[name], why[name])]
    return _left(cells.to_html(escape=False, border=0))


def _left(markup: str) -> str:
    """Cells aligned left and top (notebook front ends right-align table cells)."""
    return re.sub(r"<t([dh])([ >])", r"<t\1 style='text-align:left;vertical-align:top'\2", markup)


def _put(out, markup: str) -> None:
    from IPython.display import HTML, display

    out.clear_output(wait=True)
    with out:
        display(HTML(markup))
