"""The sampling report's chart (P3): configured against achieved rate per service and
day, as SVG markup the console puts inline.

Pure and deterministic: the same report gives the same bytes. Every piece of text is
escaped; no script and no ``style`` attribute (the console's Content-Security-Policy
forbids inline styles): colours and dashes are SVG presentation attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

# Distinct on screen and in greyscale print, one per service in report order.
PALETTE = ("#1f5fa8", "#c0392b", "#2e7d32", "#8e44ad", "#d68910", "#17808a", "#5d6d7e")
Y_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_X_LABELS = 8


@dataclass(frozen=True)
class ChartText:
    """The chart's words, in the page's language."""

    title: str
    configured: str
    achieved: str
    rate_axis: str
    day_axis: str


@dataclass(frozen=True)
class Frame:
    width: int = 880
    height: int = 340
    left: int = 56
    right: int = 44
    top: int = 36
    bottom: int = 92

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


def _num(value: float) -> str:
    """A coordinate, rounded so the output does not depend on float noise."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def x_of(frame: Frame, index: int, count: int) -> float:
    if count <= 1:
        return frame.left + frame.plot_width / 2
    return frame.left + frame.plot_width * index / (count - 1)


def y_of(frame: Frame, rate: float) -> float:
    clamped = min(max(rate, 0.0), 1.0)
    return frame.top + frame.plot_height * (1.0 - clamped)


def segments(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive known values (a day without an eligible call has no achieved
    rate: the line breaks there rather than dropping to zero)."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, value))
    if current:
        runs.append(current)
    return runs


def label_indexes(count: int, most: int = MAX_X_LABELS) -> list[int]:
    """The days that get a label: the first, the last and evenly spread between, so
    labels never overlap however long the range."""
    if count <= most:
        return list(range(count))
    return sorted({round(k * (count - 1) / (most - 1)) for k in range(most)})


def _points(frame: Frame, run: Sequence[tuple[int, float]], count: int) -> str:
    return " ".join(f"{_num(x_of(frame, i, count))},{_num(y_of(frame, v))}" for i, v in run)


def _axes(frame: Frame, days: Sequence[str], text: ChartText) -> list[str]:
    out: list[str] = []
    bottom = frame.top + frame.plot_height
    for tick in Y_TICKS:
        y = _num(y_of(frame, tick))
        out.append(
            f'<line x1="{frame.left}" y1="{y}" x2="{frame.left + frame.plot_width}" y2="{y}" '
            'stroke="#d0d0d0" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{frame.left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11" fill="#333">{int(tick * 100)}%</text>'
        )
    for index in label_indexes(len(days)):
        day = days[index]
        x = _num(x_of(frame, index, len(days)))
        out.append(
            f'<text x="{x}" y="{bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#333">{escape(day)}</text>'
        )
    out.append(
        f'<line x1="{frame.left}" y1="{bottom}" x2="{frame.left + frame.plot_width}" '
        f'y2="{bottom}" stroke="#333" stroke-width="1"/>'
    )
    out.append(
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{bottom}" '
        'stroke="#333" stroke-width="1"/>'
    )
    out.append(
        f'<text x="14" y="{_num(frame.top + frame.plot_height / 2)}" font-size="12" '
        f'fill="#333" text-anchor="middle" '
        f'transform="rotate(-90 14 {_num(frame.top + frame.plot_height / 2)})">'
        f"{escape(text.rate_axis)}</text>"
    )
    out.append(
        f'<text x="{_num(frame.left + frame.plot_width / 2)}" y="{bottom + 34}" '
        f'font-size="12" fill="#333" text-anchor="middle">{escape(text.day_axis)}</text>'
    )
    return out


def _series(
    frame: Frame, index: int, service: Mapping[str, Any], count: int, text: ChartText
) -> list[str]:
    colour = PALETTE[index % len(PALETTE)]
    name = str(service["service"])
    days = service["days"]
    out = [f'<g class="series" data-service={quoteattr(name)}>']
    configured = [float(d["configured_rate"]) for d in days]
    for run in segments(configured):
        out.append(
            f'<polyline class="configured" points="{_points(frame, run, count)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
    achieved = [None if d["achieved_rate"] is None else float(d["achieved_rate"]) for d in days]
    for run in segments(achieved):
        out.append(
            f'<polyline class="achieved" points="{_points(frame, run, count)}" fill="none" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
        for i, value in run:
            day = days[i]
            tip = (
                f"{name} {day['day']}: {text.achieved} {round(value * 100, 1)}% "
                f"({day['recorded']}/{day['eligible']}), {text.configured} "
                f"{round(float(day['configured_rate']) * 100, 1)}%"
            )
            out.append(
                f'<circle cx="{_num(x_of(frame, i, count))}" cy="{_num(y_of(frame, value))}" '
                f'r="3" fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
    out.append("</g>")
    return out


def _legend(frame: Frame, services: Sequence[str], text: ChartText) -> list[str]:
    out = ['<g class="legend">']
    y = frame.height - 30
    x = frame.left
    for index, name in enumerate(services):
        colour = PALETTE[index % len(PALETTE)]
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{colour}" '
            'stroke-width="2.5"/>'
        )
        out.append(
            f'<text x="{x + 30}" y="{y}" dominant-baseline="middle" font-size="11" '
            f'fill="#333">{escape(name)}</text>'
        )
        x += 40 + 7 * len(name)
    y += 18
    out.append(
        f'<line x1="{frame.left}" y1="{y}" x2="{frame.left + 24}" y2="{y}" stroke="#333" '
        'stroke-width="2.5"/>'
    )
    out.append(
        f'<text x="{frame.left + 30}" y="{y}" dominant-baseline="middle" font-size="11" '
        f'fill="#333">{escape(text.achieved)}</text>'
    )
    x2 = frame.left + 60 + 7 * len(text.achieved)
    out.append(
        f'<line x1="{x2}" y1="{y}" x2="{x2 + 24}" y2="{y}" stroke="#333" stroke-width="1.5" '
        'stroke-dasharray="6 4"/>'
    )
    out.append(
        f'<text x="{x2 + 30}" y="{y}" dominant-baseline="middle" font-size="11" '
        f'fill="#333">{escape(text.configured)}</text>'
    )
    out.append("</g>")
    return out


def rate_chart(
    report: Sequence[Mapping[str, Any]], text: ChartText, frame: Frame = Frame()
) -> str:
    """The chart of a sampling report (see ``AccessService.sampling_report``): per
    service a dashed line for the configured rate and a solid one, with a dot per day,
    for the achieved rate."""
    days = [str(d["day"]) for d in report[0]["days"]] if report else []
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rate-chart" role="img" '
        f'width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" aria-label={quoteattr(text.title)}>',
        f"<title>{escape(text.title)}</title>",
        f'<text x="{frame.left}" y="20" font-size="14" font-weight="bold" fill="#222">'
        f"{escape(text.title)}</text>",
        *_axes(frame, days, text),
    ]
    for index, service in enumerate(report):
        out += _series(frame, index, service, len(days), text)
    out += _legend(frame, [str(s["service"]) for s in report], text)
    out.append("</svg>")
    return "\n".join(out) + "\n"
