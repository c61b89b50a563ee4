"""Colours and labels of verdicts and job states.

Shared by the HUD, the series chart's markers and the commit page, so a regression is the same
red everywhere.
"""

from __future__ import annotations

from db.queries.hud import FAILED, PENDING

# verdict or job state -> (CSS class, colour, label)
STYLES: dict[str, tuple[str, str, str]] = {
    "no_change": ("v-ok", "#2e9e4f", "no change"),
    "regression": ("v-reg", "#d62728", "regression"),
    "improvement": ("v-imp", "#0b5d1e", "improvement"),
    "suspect": ("v-sus", "#f0a202", "suspect, awaiting confirmation"),
    PENDING: ("v-pend", "#9e9e9e", "queued or running"),
    FAILED: ("v-fail", "#111111", "job failed"),
    "measured": ("v-meas", "#dfe7ef", "measured, no verdict yet"),
}


def format_pct(change_pct: float | None) -> str:
    if change_pct is None:
        return ""
    return f"{change_pct:+.1f}%"
