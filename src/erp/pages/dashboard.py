"""The service dashboard (`/dashboard`, service and admin): the figures of `GET /metrics/service` for a period
and channel, computed by the same function (erp.service.figures) and drawn as inline SVG on the server. No
script: each chart carries its numbers as text, and a rate with nothing to count says "no data", not 0 %."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from erp.db import SessionDep
from erp.errors import InvalidRequest
from erp.orders.schemas import Channel
from erp.pages import web
from erp.pages.web import Rep
from erp.schemas import PeriodDate
from erp.service import figures
from erp.service.schemas import DailyShipping, Rate, ReturnRate

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)

CHANNELS = get_args(Channel)
TOP_N = 10
PERIOD_DATE: TypeAdapter[date] = TypeAdapter(PeriodDate)


def percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%".replace(".0%", "%")


def rate_text(share: Rate) -> str:
    return percent(share.rate) if share.rate is None else f"{percent(share.rate)} ({share.numerator} of {share.denominator})"


@dataclass
class Line:
    """A line chart of two rates per day: polylines (a day without data breaks the line) and dots."""

    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    series: list[dict[str, Any]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    # Lines shipped per day, as faint bars along the bottom (a quarter of the height at the busiest day):
    # a rate of one line and a rate of a hundred do not look alike.
    volume: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    busiest: int = 0


def line_chart(daily: list[DailyShipping]) -> Line:
    chart = Line(width=640, height=290, left=72, top=14, plot_w=552, plot_h=236)
    n = max(len(daily) - 1, 1)

    def x(i: int) -> float:
        return round(chart.left + chart.plot_w * i / n, 1)

    def y(value: float) -> float:
        return round(chart.top + chart.plot_h * (1 - value), 1)

    for key, label, css in (("on_time", "On-time shipment", "s1"), ("promise_accuracy", "Promise accuracy", "s2")):
        segments: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, day in enumerate(daily):
            value = getattr(day, key).rate
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x(i), y(value)))
            dots.append((x(i), y(value), f"{day.day}: {percent(value)} of {day.lines_shipped} lines"))
        chart.series.append({"label": label, "css": css, "dots": dots,
                             "paths": [" ".join(f"{px},{py}" for px, py in s) for s in segments if len(s) > 1]})
    chart.busiest = max((day.lines_shipped for day in daily), default=0)
    slot = chart.plot_w / max(len(daily), 1)
    for i, day in enumerate(daily):
        if day.lines_shipped:
            height = round(chart.plot_h * 0.25 * day.lines_shipped / chart.busiest, 1)
            chart.volume.append((round(x(i) - slot * 0.3, 1), round(y(0) - height, 1), round(max(slot * 0.6, 1), 1),
                                 height, f"{day.day}: {day.lines_shipped} lines shipped"))
    chart.y_labels = [(y(v), f"{int(v * 100)}%") for v in (0, 0.5, 1)]
    if daily:
        picks = sorted({0, len(daily) // 2, len(daily) - 1})
        chart.x_labels = [(x(i), daily[i].day.strftime("%d %b")) for i in picks]
    return chart


@dataclass
class Bar:
    label: str
    value: float
    text: str
    length: float = 0.0


def scaled(bars: list[Bar], room: float) -> list[Bar]:
    top = max((b.value for b in bars), default=0) or 1
    for bar in bars:
        bar.length = round(room * bar.value / top, 1)
    return bars


def top_returns(rows: list[ReturnRate]) -> list[Bar]:
    """The TOP_N highest return rates (units returned / units shipped), rows without shipments left out."""
    ranked = sorted((r for r in rows if r.rate is not None), key=lambda r: (-(r.rate or 0), r.key))[:TOP_N]
    return scaled([Bar(r.key, r.rate or 0, f"{percent(r.rate)} ({r.units_returned} of {r.units_shipped})")
                   for r in ranked], 150)


def charts(data: figures.ServiceFigures) -> dict[str, Any]:
    return {
        "line": line_chart(data.daily),
        "touches": scaled([Bar(f"{b.touches}+" if b.more else str(b.touches), b.orders, str(b.orders))
                           for b in data.touches.histogram], 140),
        "ages": scaled([Bar(b.days, b.lines, str(b.lines)) for b in data.open_backorders.age_buckets], 140),
        "by_product": top_returns(data.returns.by_product),
        "by_supplier": top_returns(data.returns.by_supplier),
    }


def _date(value: str, name: str, errors: list[str]) -> date | None:
    if not value.strip():
        return None
    try:
        return PERIOD_DATE.validate_python(value.strip())
    except ValidationError as invalid:
        errors.append(f"“{name}”: {invalid.errors()[0]['msg'].removeprefix('Value error, ')}.")
        return None


@router.get("/dashboard")
async def dashboard(request: Request, session: SessionDep, person: Rep, channel: str = "") -> HTMLResponse:
    # The form's fields are `from` and `to`, as the API's parameters (a Python name cannot be `from`).
    start_text, end_text = (request.query_params.get(name, "")[:40] for name in ("from", "to"))
    errors: list[str] = []
    start, end = _date(start_text, "From", errors), _date(end_text, "To", errors)
    if channel and channel not in CHANNELS:
        errors.append(f"“Channel”: {channel[:40]} is not one of {', '.join(CHANNELS)}.")
    today = date.today()
    data = None
    if not errors:
        try:
            asked = figures.period(start, end, channel or None, today)
        except InvalidRequest as invalid:
            errors.append(str(invalid.detail))
        else:
            data = await figures.service_figures(session, asked, request.app.state.settings.touch_threshold, today)
            start_text, end_text = asked.start.isoformat(), asked.end.isoformat()
    return web.render(request, "dashboard.html", 422 if errors else 200, person=person, title="Dashboard",
                      data=data, charts=charts(data) if data else None, errors=errors, channels=CHANNELS,
                      channel=channel if channel in CHANNELS else "", start=start_text, end=end_text,
                      percent=percent, rate_text=rate_text)
