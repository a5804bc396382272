"""The /stats chart: questions per day, answered and declined, as one PNG.

Usage::

    png = questions_per_day_png(stats.daily, tr=tr)   # bytes; blocking (call via asyncio.to_thread)

matplotlib is imported on first use, not with the bot, and drawn through its Agg
canvas on a ``Figure`` of our own (no pyplot): no display is needed and no global
figure state is shared between threads.
"""

from __future__ import annotations

import io
from typing import Sequence

from bot.i18n import ENGLISH, Translator
from bot.stats import DayCount

ANSWERED = "#2a7ab0"  # blue and orange: told apart with the common colour-vision deficiencies
DECLINED = "#e08a2c"


def questions_per_day_png(days: Sequence[DayCount], *, tr: Translator = ENGLISH) -> bytes:
    """A stacked bar chart of ``days`` (oldest first): answered below, declined on top; labels in ``tr``'s language."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 3.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = range(len(days))
    answered = [d.answered for d in days]
    declined = [d.declined for d in days]
    axes.bar(x, answered, color=ANSWERED, label=tr.gettext("answered ({count})", count=sum(answered)), width=0.8)
    axes.bar(
        x, declined, bottom=answered, color=DECLINED, label=tr.gettext("declined ({count})", count=sum(declined)), width=0.8
    )
    step = max(1, len(days) // 6)
    ticks = list(range(len(days) - 1, -1, -step))[::-1]  # always label the last day (today)
    axes.set_xticks(ticks, [tr.day(days[i].day) for i in ticks])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_ylabel(tr.pgettext("chart axis", "questions"))
    title = tr.ngettext(
        "Questions per day, last {days} day (UTC)", "Questions per day, last {days} days (UTC)", len(days), days=len(days)
    )
    axes.set_title(title, loc="left", fontsize=11)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(frameon=False, loc="upper left", ncols=2)
    top = max((a + d for a, d in zip(answered, declined)), default=0)
    axes.set_ylim(0, max(1, top) * 1.25)  # room for the legend above the bars
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
