"""A year's evaluation results as a regulator files them (JL-O3): an Excel workbook and a PDF.

The same rows as the round's page (``rows``): the snapshot of each facility's figures, the score,
the provisional and final grade, the adjustment's reason and the art. 47 consequences. Every
workbook cell goes through ``telemed.text.spreadsheet_row`` (no cell can become a formula); the PDF
uses the statements' font and page numbering (``billing.exports``). Nothing here queries or writes.
"""

from __future__ import annotations

import io
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.text import spreadsheet_row

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def hours(seconds) -> Decimal | None:
    return None if seconds is None else (Decimal(seconds) / 3600).quantize(Decimal("0.1"))


def columns() -> list[str]:
    return [_("区划"), _("机构"), _("级别"), _("主要负责人"), _("服务量"), _("24小时规则按时率（%）"),
            _("响应时间中位数（小时）"), _("受理至签发中位数（小时）"), _("满意度均分"), _("质控得分率（%）"),
            _("违规记录"), _("暂停服务"), _("得分"), _("初评等次"), _("等次"), _("调整理由"), _("问责"), _("负责人不得评先选优")]


def rows(results) -> list[list]:
    """One row per result, in the page's order: numbers stay numbers (None when there was no data)."""
    yes, no = _("是"), _("否")
    out = []
    for r in results:
        i = r.inputs
        out.append([
            r.facility.division.name, r.facility.name, r.facility.get_level_display(), r.principal_name, i["volume"],
            i["compliance_percent"], hours(i["response_median"]), hours(i["turnaround_median"]), i["satisfaction_mean"],
            i["qc_percent"], i["violations"], i["suspensions"], r.score, r.get_provisional_grade_display(),
            r.get_grade_display(), r.adjust_reason, yes if r.accountability else no, yes if r.principal_barred else no,
        ])
    return out


def title(round_) -> str:
    return _("%(y)s 年度远程医疗服务评价考核结果（%(d)s）") % {"y": round_.year, "d": round_.division.name}


def subtitle(round_) -> str:
    state = (_("已公布 %(at)s") % {"at": f"{timezone.localtime(round_.published_at):%Y-%m-%d %H:%M}"}
             if round_.published else _("审核中（未公布）"))
    return _("考核办法 v%(v)s %(doc)s；%(state)s；依据《吉林省远程医疗服务管理办法（试行）》第四十五条至第四十七条（JL-O3）") % {
        "v": round_.formula.version, "doc": round_.formula.document_number, "state": state}


def results_xlsx(round_, results) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(round_.year)
    sheet.append(spreadsheet_row([title(round_)]))
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(spreadsheet_row([subtitle(round_)]))
    sheet.append(spreadsheet_row(columns()))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows(results):
        sheet.append(spreadsheet_row([float(v) if isinstance(v, Decimal) else v for v in row]))
    sheet.freeze_panes = "C4"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def results_pdf(round_, results) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from billing.exports import FONT, _numbered_canvas, _register_font

    _register_font()
    base = ParagraphStyle("cell", fontName=FONT, fontSize=7, leading=9)
    heading = ParagraphStyle("title", fontName=FONT, fontSize=14, leading=18, alignment=1)

    def p(value) -> Paragraph:
        text = "—" if value is None or value == "" else str(value)
        return Paragraph(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), base)

    data = [[p(c) for c in columns()]] + [[p(v) for v in row] for row in rows(results)]
    table = Table(data, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF2F6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                                 topMargin=12 * mm, bottomMargin=14 * mm, title=title(round_))
    document.build([Paragraph(title(round_), heading), Paragraph(subtitle(round_), base), Spacer(1, 4 * mm), table],
                   canvasmaker=_numbered_canvas(title(round_)))
    return out.getvalue()
