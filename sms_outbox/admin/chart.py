"""Lay out the health page's chart: one strip of bars per series, as SVG numbers.

Sent, failed and retried each get a strip with its own label, scale and
fill pattern, so the chart reads without colour; every bar carries a
tooltip with its time and count. The template draws what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from sms_outbox.health import BUCKET, Bucket

BAR_STEP = 5  # viewBox units per bucket; bars are one unit narrower
STRIP_HEIGHT = 48
LABEL_HEIGHT = 18
STRIP_GAP = 10
SERIES = (("sent", _("sent")), ("failed", _("failed")), ("retried", _("retried")))


@dataclass(slots=True)
class Bar:
    x: int
    y: float
    height: float
    title: str


@dataclass(slots=True)
class Strip:
    name: str
    label: str
    total: int
    peak: int
    top: int
    baseline: int
    bars: list[Bar]


def _span(bucket: Bucket) -> str:
    start = timezone.localtime(bucket.start)
    end = timezone.localtime(bucket.start + BUCKET)
    return f"{date_format(start, 'H:i')}–{date_format(end, 'H:i')}"


def lay_out_chart(buckets: list[Bucket]) -> dict[str, Any]:
    """Return the chart's size, strips and axis ticks for ``buckets``."""
    strips = []
    top = 0
    for name, label in SERIES:
        values = [getattr(bucket, name) for bucket in buckets]
        peak = max(values, default=0)
        baseline = top + LABEL_HEIGHT + STRIP_HEIGHT
        bars = []
        for index, (bucket, value) in enumerate(zip(buckets, values, strict=True)):
            if not value:
                continue
            # A single failure among thousands must still show.
            height = max(1.0, round(value / peak * STRIP_HEIGHT, 1))
            bars.append(
                Bar(
                    x=index * BAR_STEP,
                    y=baseline - height,
                    height=height,
                    title=f"{_span(bucket)}: {value} {label}",
                )
            )
        strips.append(Strip(name, str(label), sum(values), peak, top, baseline, bars))
        top = baseline + STRIP_GAP
    width = len(buckets) * BAR_STEP
    hours = round(len(buckets) * BUCKET.total_seconds() / 3600)
    ticks = [
        {"x": width * i // 4, "label": f"−{hours - hours * i // 4} h" if i < 4 else ""}
        for i in range(5)
    ]
    ticks[-1]["label"] = str(_("now"))
    return {
        "width": width,
        "height": top + 14,
        "axis_y": top + 10,
        "strips": strips,
        "ticks": ticks,
    }
