"""The sampling report's chart (P3): configured against achieved rate per service, as
SVG parsed back with xml.etree: the points sit where the rates say, text is escaped,
no script and no style attribute, and the output is deterministic."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

from controller.web.charts import (
    ChartText,
    Frame,
    label_indexes,
    rate_chart,
    segments,
    x_of,
    y_of,
)

SVG = "{http://www.w3.org/2000/svg}"
TEXT = ChartText("Sampling <rate>", "configured", "achieved", "rate", "day")


def day(name: str, configured: float, achieved: float | None, eligible: int = 4) -> dict[str, Any]:
    recorded = 0 if achieved is None else round(achieved * eligible)
    return {
        "day": name,
        "configured_rate": configured,
        "calls": eligible,
        "eligible": eligible if achieved is not None else 0,
        "recorded": recorded,
        "achieved_rate": achieved,
    }


DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")
REPORT = [
    {"service": "sales", "days": [day(DAYS[0], 0.5, 0.25), day(DAYS[1], 0.5, None),
                                  day(DAYS[2], 0.5, 0.75)]},
    {"service": "<script>alert(1)</script>",
     "days": [day(DAYS[0], 0.2, 0.0), day(DAYS[1], 0.2, 0.5), day(DAYS[2], 0.3, 1.0)]},
]  # fmt: skip


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output


def points(element: ET.Element) -> list[tuple[float, float]]:
    pairs = (p.split(",") for p in element.attrib["points"].split())
    return [(float(x), float(y)) for x, y in pairs]


def test_p3_achieved_and_configured_points_sit_at_their_rates() -> None:
    """P3: each service has a dashed configured line and a solid achieved line whose
    points are at the day's x and the rate's y; a day without an eligible call breaks
    the achieved line instead of dropping it to zero."""
    root = parsed(rate_chart(REPORT, TEXT))
    frame = Frame()
    groups = root.findall(f"{SVG}g[@class='series']")
    assert [g.attrib["data-service"] for g in groups] == ["sales", "<script>alert(1)</script>"]
    sales = groups[0]
    [configured] = sales.findall(f"{SVG}polyline[@class='configured']")
    assert configured.attrib["stroke-dasharray"] == "6 4"
    assert points(configured) == [
        (round(x_of(frame, i, 3), 2), round(y_of(frame, 0.5), 2)) for i in range(3)
    ]
    achieved = sales.findall(f"{SVG}polyline[@class='achieved']")
    assert [points(a) for a in achieved] == [
        [(round(x_of(frame, 0, 3), 2), round(y_of(frame, 0.25), 2))],
        [(round(x_of(frame, 2, 3), 2), round(y_of(frame, 0.75), 2))],
    ]
    dots = sales.findall(f"{SVG}circle")
    assert [(float(c.attrib["cx"]), float(c.attrib["cy"])) for c in dots] == [
        (round(x_of(frame, 0, 3), 2), round(y_of(frame, 0.25), 2)),
        (round(x_of(frame, 2, 3), 2), round(y_of(frame, 0.75), 2)),
    ]
    # 100 % is the top of the plot, 0 % its bottom.
    other = groups[1].find(f"{SVG}polyline[@class='achieved']")
    assert other is not None
    ys = [y for _, y in points(other)]
    assert ys[0] == frame.top + frame.plot_height and ys[2] == frame.top


def test_chart_has_axis_labels_a_legend_and_escaped_text_without_script_or_style() -> None:
    svg = rate_chart(REPORT, TEXT)
    root = parsed(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "0%" in texts and "100%" in texts and "2026-03-01" in texts and "2026-03-03" in texts
    assert "rate" in texts and "day" in texts and "Sampling <rate>" in texts
    legend = root.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    legend_texts = ["".join(t.itertext()) for t in legend.iter(f"{SVG}text")]
    assert legend_texts == ["sales", "<script>alert(1)</script>", "achieved", "configured"]
    assert "<script" not in svg and "Sampling &lt;rate&gt;" in svg
    for element in root.iter():
        assert element.tag != f"{SVG}script"
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib)


def test_chart_is_deterministic_and_handles_no_service_and_one_day() -> None:
    assert rate_chart(REPORT, TEXT) == rate_chart(REPORT, TEXT)
    empty = parsed(rate_chart([], TEXT))
    assert empty.findall(f"{SVG}g[@class='series']") == []
    one = parsed(rate_chart([{"service": "s", "days": [day("2026-03-01", 0.5, 0.5)]}], TEXT))
    [dot] = one.iter(f"{SVG}circle")
    assert float(dot.attrib["cx"]) == Frame().left + Frame().plot_width / 2


def test_day_labels_never_crowd_and_keep_the_first_and_last_day() -> None:
    assert label_indexes(3) == [0, 1, 2]
    for count in (9, 12, 31, 366):
        shown = label_indexes(count)
        assert shown[0] == 0 and shown[-1] == count - 1 and len(shown) == 8
        gaps = [b - a for a, b in itertools.pairwise(shown)]
        assert max(gaps) - min(gaps) <= 1


def test_segments_split_at_unknown_values() -> None:
    assert segments([None, 0.1, 0.2, None, None, 0.3]) == [[(1, 0.1), (2, 0.2)], [(5, 0.3)]]
    assert segments([]) == []
