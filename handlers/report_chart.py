"""The owners' report chart: active members, messages, questions and the reward pool per week, as a PNG.

Drawn with matplotlib's object API (no pyplot: no global state, safe off the event loop) in the CJK font shipped
in bot/fonts (a subset of Noto Sans CJK SC under the SIL Open Font License), so Chinese labels render on a fresh
machine without system fonts. matplotlib is imported inside the functions: the bot starts without loading it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FONT = Path(__file__).resolve().parent.parent / "bot" / "fonts" / "QunbotChartSansSC-Regular.otf"
FAMILY = "Qunbot Chart Sans SC"


@dataclass(frozen=True)
class Week:
    label: str                  # the week's first day, as members read it (11.23)
    active: int | None          # None: the platform cannot see it
    messages: int | None
    questions: int
    pool_fen: int


@dataclass(frozen=True)
class Labels:
    title: str
    active: str
    messages: str
    questions: str
    pool: str
    na: str             # a figure the platform cannot see
    empty: str          # no week to show yet

    def texts(self) -> list[str]:
        return [self.title, self.active, self.messages, self.questions, self.pool, self.na, self.empty]


def font_properties() -> Any:
    """The shipped font, registered with matplotlib (once), as the FontProperties the chart uses."""
    from matplotlib import font_manager

    if FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(FONT))
    return font_manager.FontProperties(family=FAMILY)


def _draw(path: Path, weeks: list[Week], labels: Labels) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = font_properties()
    figure = Figure(figsize=(9, 6), dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle(labels.title, fontproperties=font, fontsize=14)
    panels: list[tuple[str, list[float | None], str]] = [
        (labels.active, [w.active for w in weeks], "#2e7d32"),
        (labels.messages, [w.messages for w in weeks], "#1565c0"),
        (labels.questions, [w.questions for w in weeks], "#ef6c00"),
        (labels.pool, [w.pool_fen / 100 for w in weeks], "#6a1b9a"),
    ]
    ticks = [w.label for w in weeks]
    for i, (name, values, colour) in enumerate(panels, 1):
        axes = figure.add_subplot(2, 2, i)
        axes.set_title(name, fontproperties=font)
        if not weeks or all(v is None for v in values):
            axes.text(0.5, 0.5, labels.na if weeks else labels.empty, ha="center", va="center",
                      transform=axes.transAxes, fontproperties=font)
            axes.set_xticks([])
            axes.set_yticks([])
            continue
        xs = list(range(len(weeks)))
        axes.plot(xs, [v if v is not None else float("nan") for v in values], marker="o", color=colour)
        axes.set_xticks(xs, ticks, fontproperties=font, fontsize=8, rotation=45)
        axes.set_ylim(bottom=0)
        if i < 4:                                   # counts, not yuan: whole numbers on the axis
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


async def draw(path: Path, weeks: list[Week], labels: Labels) -> Path:
    """Draw the chart into `path` off the event loop (a few hundred milliseconds of CPU)."""
    return await asyncio.to_thread(_draw, path, weeks, labels)
