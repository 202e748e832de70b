"""Plots for the HTML report: matplotlib, headless, returned as base64 PNG for inline <img> tags.

Labels and annotator handles are user text: math-text parsing is off, so "$5 off" is drawn as typed
instead of being read (and failing) as a formula.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt

__all__ = ["plt", "png"]


def png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
