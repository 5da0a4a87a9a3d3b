"""One figure style for every paper, and one way to save figures (PDF + PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "pdf.fonttype": 42,
}


def apply_style() -> None:
    """Set the project's matplotlib rcParams (idempotent)."""
    plt.rcParams.update(STYLE)


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 3.2, height: float = 2.6, **kw):
    """Create a figure of ``nrows x ncols`` panels, each ``width x height`` inches."""
    apply_style()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), constrained_layout=True, **kw
    )
    return fig, axes


def save_figure(fig, *paths: str | Path) -> None:
    """Save ``fig`` to every path given (format from the suffix: .pdf, .png) and close it.

    Each file is written to a temporary name first and renamed, so an interrupted
    run never leaves a half-written figure behind.
    """
    if not paths:
        raise ValueError("save_figure needs at least one output path")
    for path in map(Path, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
        fig.savefig(tmp, format=path.suffix.lstrip("."), bbox_inches="tight")
        tmp.replace(path)
    plt.close(fig)
