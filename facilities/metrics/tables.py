"""The dashboard's tables, built once from a ``figures.Report`` for the page, the scorecard and the
exports alike: a caption, column labels and rows of cells (text, optional link)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from html import escape

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .definitions import FIGURES, PERIOD_KEYS
from .figures import Report, rankings

# The columns of the comparison tables (service types, sub-divisions, facilities, trends).
COMPARED = ("sent", "accepted", "declined", "returned", "completed", "compliance_percent", "violations",
            "response_median", "response_p90", "turnaround_median", "satisfaction_mean", "fee_fen")
# The 12-month trends: every figure of a period, in two tables so that each stays readable.
TRENDS = (
    ("trend-activity", gettext_lazy("近12个月趋势：申请与响应"),
     ("sent", "accepted", "declined", "returned", "completed", "response_median", "response_p90", "turnaround_median", "turnaround_p90")),
    ("trend-rules", gettext_lazy("近12个月趋势：24小时规则、满意度、费用与参与"),
     ("obligations_due", "obligations_met", "compliance_percent", "violations", "ratings_count", "satisfaction_mean",
      "fee_fen", "inviting_share_fen", "invited_share_fen", "active_facilities", "active_experts")),
)


@dataclass
class Table:
    key: str
    caption: str
    columns: list[str]
    rows: list[list[tuple[str, str, object]]] = field(default_factory=list)  # (text, href, spreadsheet value)
    export_url: str = ""

    def body_html(self) -> str:
        """The rows as escaped HTML (a row header, then the figures): built here rather than by
        template loops, which cost the page more than reading its figures, and with the standard
        library's ``html.escape`` (the same five characters as Django's ``escape``, without its
        lazy-string wrapper, which cost ~20 ms a page for ~1,000 cells; docs/performance.md)."""
        lines = []
        for (text, href, _value), *cells in self.rows:
            first = f'<a href="{_escaped(href)}">{_escaped(text)}</a>' if href else _escaped(text)
            lines.append(f'<tr><th scope="row">{first}</th>' + "".join(f'<td class="num">{_escaped(c[0])}</td>' for c in cells) + "</tr>")
        return mark_safe("\n".join(lines))  # noqa: S308 - every part escaped above


def _escaped(text) -> str:
    """Django's ``conditional_escape``, for the plain strings of a table: as is if already safe."""
    return text if hasattr(text, "__html__") else escape(str(text))


def show(key: str, value) -> str:
    """A figure's value as a clerk reads it: 元 for money, hours and minutes for intervals, % for rates."""
    if value is None:
        return "—"
    unit = FIGURES[key].unit if key in FIGURES else "count"
    if unit == "fen":
        return f"{value / 100:,.2f}"
    if unit == "seconds":
        hours, rest = divmod(int(value), 3600)
        return _("%(h)d小时%(m)02d分") % {"h": hours, "m": rest // 60}
    if unit == "percent":
        return f"{value:.1f}%"
    return str(value)


def cell(key: str, value) -> tuple[str, str, object]:
    """A figure's cell: the text shown, no link, and the spreadsheet value — a number for counts
    and money (yuan, exact), the same text as shown for rates, means and intervals."""
    text = show(key, value)
    unit = FIGURES[key].unit if key in FIGURES else "count"
    if value is None:
        return text, "", None
    if unit == "fen":
        return text, "", Decimal(value) / 100
    if unit == "count":
        return text, "", value
    return text, "", text


def head(text: str, href: str = "") -> tuple[str, str, object]:
    return str(text), href, str(text)


def _figure_label(key: str) -> str:
    figure = FIGURES[key]
    suffix = {"fen": _("（元）")}.get(figure.unit, "")
    return f"{figure.label}{suffix}（{figure.rule}）"


def build(report: Report, *, names: dict) -> list[Table]:
    """Every table of the page; ``names`` maps service codes, division codes and facility ids to names."""
    query = urlencode(report.period.query())
    labels: dict[str, str] = {}

    def _label(key: str) -> str:  # each column's label once per page, not once per table
        if key not in labels:
            labels[key] = _figure_label(key)
        return labels[key]

    headline = Table("headline", _("主要指标"), [_("指标（依据）"), _("本期"), _("上期"), _("去年同期")])
    for key in PERIOD_KEYS:
        headline.rows.append([head(_label(key))] + [cell(key, values[key]) for values in (report.current, report.previous, report.last_year)])
    for key in report.snapshot:
        headline.rows.append([head(_label(key))] + [cell(key, states[key]) for states in (report.snapshot, report.previous_snapshot, report.last_year_snapshot)])
    tables = [headline]

    def compare(table_key: str, caption: str, first: str, slices: dict, link=None, order=None) -> Table:
        table = Table(table_key, caption, [first] + [_label(k) for k in COMPARED])
        for slice_key in order or sorted(slices, key=str):
            values = slices[slice_key]
            table.rows.append([head(names.get(slice_key, str(slice_key)), link(slice_key) if link else "")] + [cell(k, values[k]) for k in COMPARED])
        return table

    tables.append(compare("service", _("按服务项目（JL-C1）"), _("服务项目"), report.by_service))
    if report.by_child:
        tables.append(compare("subdivision", _("下级区划比较"), _("区划"), report.by_child,
                              link=lambda code: reverse("facilities:metrics-division", args=[code]) + "?" + query))
    if report.by_facility:
        def facility_link(pk):
            return reverse("facilities:metrics-facility", args=[pk]) + "?" + query

        # The order is ``figures.rankings``'s; a page's report comes with it, chosen in SQL.
        order = report.ranked if report.ranked is not None else rankings(report.by_facility, names)
        ranked = report.by_facility
        tables.append(compare("rank-compliance", _("机构排名：24小时规则按时率最低"), _("机构"), ranked, facility_link, order["compliance"]))
        tables.append(compare("rank-response", _("机构排名：受邀方响应最慢（中位数）"), _("机构"), ranked, facility_link, order["response"]))
        tables.append(compare("rank-declines", _("机构排名：拒绝最多"), _("机构"), ranked, facility_link, order["declines"]))
    if report.trends:
        for key, caption, columns in TRENDS:
            trend = Table(key, str(caption), [_("月份")] + [_label(k) for k in columns])
            for label, values in report.trends:
                trend.rows.append([head(label)] + [cell(k, values[k]) for k in columns])
            tables.append(trend)
    return tables
