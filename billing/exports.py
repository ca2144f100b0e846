"""Statement exports (JL-B4, art. 42): CSV, Excel workbook and PDF of one statement; and the
per-person payout report (JL-B6, art. 43) as CSV and Excel, at the end of this module.

Each function takes a statement loaded by ``selectors.statement_detail`` (parties, payee account,
charges and reversals prefetched) and returns bytes; nothing here queries or writes. The three
formats carry the same content: the parties, the period, the payee account (masked but for its
last four digits), the stored totals, the confirmation and payment status, and one row per line
— a charge, or a reversal as a negative row.

Money stays integer fen until the last step: text goes through ``billing.rules.yuan`` (CSV uses it
without the ``¥`` and thousands separators so that Excel reads a number), and an Excel cell gets
``Decimal(fen) / 100``, exact. Totals are the statement's stored integer totals; the workbook also
adds ``SUM`` formulas over the rows so that a reader can see both agree.

No text a user typed (a receipt number, a reversal reason, a facility or bank name) can become a
formula in the CSV or the workbook: every data cell goes through ``telemed.text.spreadsheet_cell``
(OWASP CSV injection); only the workbook's own ``SUM``/``IF`` rows are written as formulas.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_noop

from telemed.text import spreadsheet_row

from . import rules
from .models import Statement

TITLE = "远程医疗服务费用结算单"
CHARGE, REVERSAL = "收费", "冲正"
FONT = "STSong-Light"  # Adobe's built-in CID font for Simplified Chinese: nothing to ship or embed.

COLUMNS = (
    "类别",
    "申请编号",
    "完成时间（北京时间）",
    "服务项目",
    "服务费（元）",
    "邀请方分配（元）",
    "受邀方分配（元）",
    "分配依据",
    "财政票据号",
    "基本医保支付（元）",
    "个人自付（元）",
    "备注",
)
TOTAL_FIELDS = {  # header label → the statement's stored total
    "服务费合计": "fee_total_fen",
    "邀请方分配合计": "inviting_share_total_fen",
    "应付受邀方合计": "invited_share_total_fen",
}

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


# --- Shared content ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    kind: str
    consultation_number: str
    completed_at: dt.datetime  # Beijing time
    service_type: str
    fee_fen: int
    inviting_share_fen: int
    invited_share_fen: int
    split_basis: str
    receipt_number: str
    insurance_fen: int | None
    self_pay_fen: int | None
    note: str


def _negative(fen: int | None) -> int | None:
    return None if fen is None else -fen


def beijing(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else timezone.localtime(moment, rules.BEIJING).strftime(fmt)


def statement_lines(statement: Statement) -> list[Line]:
    """Charges in completion order, then reversals (negative) in the order they happened."""
    lines = []
    for charge in statement.charges.all():
        lines.append(
            Line(
                CHARGE, charge.consultation.number, timezone.localtime(charge.completed_at, rules.BEIJING),
                charge.service_type.name, charge.fee_fen, charge.inviting_share_fen, charge.invited_share_fen,
                charge.split_basis, charge.fiscal_receipt_number, charge.insurance_fen, charge.self_pay_fen, "",
            )
        )
    for reversal in statement.reversals.all():
        charge = reversal.charge
        lines.append(
            Line(
                REVERSAL, charge.consultation.number, timezone.localtime(charge.completed_at, rules.BEIJING),
                charge.service_type.name, -charge.fee_fen, -charge.inviting_share_fen, -charge.invited_share_fen,
                charge.split_basis, charge.fiscal_receipt_number, _negative(charge.insurance_fen),
                _negative(charge.self_pay_fen), f"冲正 {beijing(reversal.reversed_at)}：{reversal.reason}",
            )
        )
    return lines


def mask_account(number: str) -> str:
    """``2201000012345678`` → ``************5678`` (JL-C9's habit, applied to bank accounts)."""
    compact = "".join(number.split())
    return "*" * max(len(compact) - 4, 0) + compact[-4:]


def yuan_plain(fen: int) -> str:
    """``-123456`` → ``-1234.56``: ``rules.yuan`` without symbol and separators, for CSV cells."""
    return rules.yuan(fen).replace("¥", "").replace(",", "")


def payee_text(statement: Statement, *, full_account: bool = False, translate=None) -> str:
    """The payee account as one line; its number masked unless ``full_account`` (JL-B4: the paying
    facility's finance officers need the whole number to pay; everybody else sees the last 4).
    Exports keep Chinese; the page passes ``translate=gettext`` (English mode, issue 12)."""
    tr = translate or (lambda text: text)
    account = statement.payee_account
    if account is None:
        return tr(gettext_noop("尚未登记（确认前受邀方须登记结算专户，JL-B4）"))
    number = " ".join(account.account_number.split()) if full_account else mask_account(account.account_number)
    return tr(gettext_noop("户名 %(name)s，开户行 %(bank)s，账号 %(number)s")) % {
        "name": account.account_name, "bank": account.bank_name, "number": number}


def _confirmation(at: dt.datetime | None) -> str:
    return f"已确认 {beijing(at)}" if at else "未确认"


def payment_text(statement: Statement) -> str:
    if statement.paid_at is None:
        return "未付款"
    return f"已付款 {beijing(statement.paid_at)}，银行流水号 {statement.bank_reference}"


def header_rows(statement: Statement, *, full_account: bool = False) -> list[tuple[str, str]]:
    """Label and value of everything above the lines; money as ``rules.yuan`` text."""
    return [
        ("结算单编号", f"JS-{statement.pk:06d}"),
        ("邀请方（付款方）", statement.inviting.name),
        ("受邀方（收款方）", statement.invited.name),
        ("结算期", f"{statement.period_start:%Y-%m-%d} 至 {statement.period_end:%Y-%m-%d}"),
        ("收款专户", payee_text(statement, full_account=full_account)),
        ("状态", str(statement.get_state_display())),
        ("笔数", str(statement.charge_count)),
        ("服务费合计", rules.yuan(statement.fee_total_fen)),
        ("邀请方分配合计", rules.yuan(statement.inviting_share_total_fen)),
        ("应付受邀方合计", rules.yuan(statement.invited_share_total_fen)),
        ("邀请方确认", _confirmation(statement.inviting_confirmed_at)),
        ("受邀方确认", _confirmation(statement.invited_confirmed_at)),
        ("付款", payment_text(statement)),
    ]


def filename(statement: Statement, extension: str) -> str:
    return f"结算单_{statement.inviting.name}_{statement.invited.name}_{statement.period_start:%Y-%m}.{extension}"


def render(statement: Statement, fmt: str, *, full_account: bool = False) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of one export; ``fmt`` is csv, xlsx or pdf.
    ``full_account``: the payee's whole account number (only for the paying facility's finance
    officers, ``billing.selectors.may_see_payee_account``)."""
    writer = {"csv": statement_csv, "xlsx": statement_xlsx, "pdf": statement_pdf}[fmt]
    return writer(statement, full_account=full_account), CONTENT_TYPES[fmt], filename(statement, fmt)


# --- CSV ----------------------------------------------------------------------------------------


def _csv_money(fen: int | None) -> str:
    return "" if fen is None else yuan_plain(fen)


class _SafeCsvWriter:
    """Every CSV row through ``telemed.text.spreadsheet_row``: no cell can become a formula."""

    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row) -> None:
        self._writer.writerow(spreadsheet_row(row))


def statement_csv(statement: Statement, *, full_account: bool = False) -> bytes:
    """UTF-8 with a BOM, so that Excel on Chinese Windows shows the text correctly."""
    out = io.StringIO()
    writer = _SafeCsvWriter(csv.writer(out, lineterminator="\r\n"))
    writer.writerow([TITLE])
    for label, value in header_rows(statement, full_account=full_account):
        if label in TOTAL_FIELDS:  # a number Excel can add, not "¥1,234.56"
            label, value = f"{label}（元）", yuan_plain(getattr(statement, TOTAL_FIELDS[label]))
        writer.writerow([label, value])
    writer.writerow([])
    writer.writerow(COLUMNS)
    for line in statement_lines(statement):
        writer.writerow([
            line.kind, line.consultation_number, line.completed_at.strftime("%Y-%m-%d %H:%M:%S"), line.service_type,
            _csv_money(line.fee_fen), _csv_money(line.inviting_share_fen), _csv_money(line.invited_share_fen),
            line.split_basis, line.receipt_number, _csv_money(line.insurance_fen), _csv_money(line.self_pay_fen), line.note,
        ])
    writer.writerow([
        "合计", f"{statement.charge_count} 笔", "", "", yuan_plain(statement.fee_total_fen),
        yuan_plain(statement.inviting_share_total_fen), yuan_plain(statement.invited_share_total_fen), "", "", "", "", "",
    ])
    return out.getvalue().encode("utf-8-sig")


# --- Excel --------------------------------------------------------------------------------------


def _cell_yuan(fen: int | None) -> Decimal | None:
    """The one place fen becomes yuan as a number: exact, for an Excel cell only."""
    return None if fen is None else Decimal(fen) / 100


def statement_xlsx(statement: Statement, *, full_account: bool = False) -> bytes:
    """Sheet 结算单: the header block, a frozen column header, the lines, a ``SUM`` row and the
    statement's stored totals beneath it, with a cell that says whether they agree."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    money_format = "#,##0.00;[Red]-#,##0.00"
    bold = Font(bold=True)
    thin = Side(style="thin", color="B9C4CE")
    fill = PatternFill("solid", fgColor="E3F0F4")

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "结算单"
    sheet.append([TITLE])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, value in header_rows(statement, full_account=full_account):
        if label in TOTAL_FIELDS:
            sheet.append([f"{label}（元）", _cell_yuan(getattr(statement, TOTAL_FIELDS[label]))])
            sheet.cell(row=sheet.max_row, column=2).number_format = money_format
            sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(horizontal="left")
        elif label == "笔数":
            sheet.append([label, statement.charge_count])
            sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(horizontal="left")
        else:
            sheet.append(spreadsheet_row([label, value]))
        sheet.cell(row=sheet.max_row, column=1).font = bold
    sheet.append([])

    sheet.append(list(COLUMNS))
    header_row = sheet.max_row
    for column in range(1, len(COLUMNS) + 1):
        cell = sheet.cell(row=header_row, column=column)
        cell.font, cell.fill, cell.border = bold, fill, Border(bottom=thin)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.freeze_panes = f"A{header_row + 1}"  # a reference, not sheet.cell(): that would create the row

    money_columns = (5, 6, 7, 10, 11)  # E F G J K
    lines = statement_lines(statement)
    for line in lines:
        sheet.append(spreadsheet_row([
            line.kind, line.consultation_number, line.completed_at.replace(tzinfo=None, microsecond=0), line.service_type,
            _cell_yuan(line.fee_fen), _cell_yuan(line.inviting_share_fen), _cell_yuan(line.invited_share_fen),
            line.split_basis, line.receipt_number, _cell_yuan(line.insurance_fen), _cell_yuan(line.self_pay_fen), line.note,
        ]))
        row = sheet.max_row
        sheet.cell(row=row, column=3).number_format = "yyyy-mm-dd hh:mm:ss"
        for column in money_columns:
            sheet.cell(row=row, column=column).number_format = money_format
        if line.kind == REVERSAL:
            sheet.cell(row=row, column=1).font = Font(color="B42318")
    first, last = header_row + 1, max(sheet.max_row, header_row + 1)

    sheet.append(["合计（按明细公式）", f'=COUNTA(B{first}:B{last})'])
    sum_row = sheet.max_row
    for column in money_columns:
        letter = get_column_letter(column)
        sheet.cell(row=sum_row, column=column, value=f"=SUM({letter}{first}:{letter}{last})")
    sheet.append([
        "结算单记载合计", statement.charge_count, None, None, _cell_yuan(statement.fee_total_fen),
        _cell_yuan(statement.inviting_share_total_fen), _cell_yuan(statement.invited_share_total_fen),
    ])
    stored_row = sheet.max_row
    # Excel adds yuan as binary floats: compare rounded to the fen.
    same = ",".join(f"ROUND({c}{sum_row},2)=ROUND({c}{stored_row},2)" for c in "EFG")
    sheet.append(["核对（JL-B4）", f'=IF(AND(B{sum_row}=B{stored_row},{same}),"明细与结算单一致","不一致")'])
    for row in (sum_row, stored_row, sheet.max_row):
        sheet.cell(row=row, column=1).font = bold
        for column in money_columns:
            cell = sheet.cell(row=row, column=column)
            cell.number_format, cell.font = money_format, bold
    for column in range(1, len(COLUMNS) + 1):
        sheet.cell(row=sum_row, column=column).border = Border(top=thin)

    widths = (20, 20, 20, 16, 13, 15, 15, 30, 16, 17, 14, 40)  # A also holds the header block's labels
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.print_options.gridLines = True
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.print_title_rows = f"{header_row}:{header_row}"

    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- PDF ----------------------------------------------------------------------------------------


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _numbered_canvas(footer: str):
    """A canvas that numbers pages "第 n 页 / 共 m 页": it keeps each page until it knows m."""
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                width, _height = self._pagesize
                self.setFont(FONT, 8)
                self.setFillGray(0.35)
                self.drawString(15 * mm, 8 * mm, footer)
                self.drawRightString(width - 15 * mm, 8 * mm, f"第 {number} 页 / 共 {total} 页")
                super().showPage()
            super().save()

    return NumberedCanvas


def statement_pdf(statement: Statement, *, generated_at: dt.datetime | None = None, full_account: bool = False) -> bytes:
    """A4 landscape: title, parties and period, payee account, the lines, totals, the JL-B4
    reconciliation, who confirmed and whether it is paid, page numbers on every page."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12, wordWrap="CJK")
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10)
    number = ParagraphStyle("number", parent=small, alignment=TA_RIGHT)
    title = ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=TA_CENTER, spaceAfter=4 * mm)
    heading = ParagraphStyle("heading", parent=base, fontSize=11, leading=15, spaceBefore=4 * mm, spaceAfter=2 * mm)

    def p(text: str, style=base) -> Paragraph:
        return Paragraph(_escape(text), style)

    def money(fen: int | None) -> Paragraph:
        return p("" if fen is None else rules.yuan(fen), number)

    generated_at = generated_at or timezone.now()
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm, bottomMargin=16 * mm,
        title=TITLE, author="吉林省远程医疗服务平台", subject=f"JS-{statement.pk:06d}",
    )
    width = document.width
    grid = colors.HexColor("#B9C4CE")
    shade = colors.HexColor("#E3F0F4")

    header = dict(header_rows(statement, full_account=full_account))
    facts = [
        ["结算单编号", header["结算单编号"], "结算期", header["结算期"]],
        ["邀请方（付款方）", header["邀请方（付款方）"], "受邀方（收款方）", header["受邀方（收款方）"]],
        ["收款专户", header["收款专户"], "状态", header["状态"]],
    ]
    facts_table = Table(
        [[p(a, small), p(b), p(c, small), p(d)] for a, b, c, d in facts],
        colWidths=[28 * mm, width / 2 - 28 * mm, 28 * mm, width / 2 - 28 * mm],
    )
    facts_table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, grid),
        ("BACKGROUND", (0, 0), (0, -1), shade),
        ("BACKGROUND", (2, 0), (2, -1), shade),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))

    head = ["类别", "申请编号", "完成时间", "服务项目", "服务费", "邀请方分配", "受邀方分配", "分配依据", "财政票据号", "医保支付", "个人自付", "备注"]
    rows = [[p(h, small) for h in head]]
    lines = statement_lines(statement)
    for line in lines:
        rows.append([
            p(line.kind, small), p(line.consultation_number, small), p(line.completed_at.strftime("%Y-%m-%d %H:%M"), small),
            p(line.service_type, small), money(line.fee_fen), money(line.inviting_share_fen), money(line.invited_share_fen),
            p(line.split_basis, small), p(line.receipt_number, small), money(line.insurance_fen), money(line.self_pay_fen),
            p(line.note, small),
        ])
    if not lines:
        rows.append([p("本期无明细。", small)] + [""] * 11)
    rows.append([
        p("合计", small), p(f"{statement.charge_count} 笔", small), "", "", money(statement.fee_total_fen),
        money(statement.inviting_share_total_fen), money(statement.invited_share_total_fen), "", "", "", "", "",
    ])
    fixed = [10, 33, 26, 28, 19, 19, 19, 0, 25, 18, 18, 0]  # mm; 0: shares what is left
    flexible = (width - sum(fixed) * mm) / 2
    lines_table = Table(rows, colWidths=[w * mm if w else flexible for w in fixed], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, grid),
        ("BACKGROUND", (0, 0), (-1, 0), shade),
        ("BACKGROUND", (0, -1), (-1, -1), shade),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for index, line in enumerate(lines, start=1):
        if line.kind == REVERSAL:
            style.append(("BACKGROUND", (0, index), (-1, index), colors.HexColor("#FDE8E6")))
    if not lines:
        style.append(("SPAN", (0, 1), (-1, 1)))
    lines_table.setStyle(TableStyle(style))

    check = rules.reconcile_check(
        stated=rules.Totals(statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen,
                            statement.invited_share_total_fen),
        computed=rules.totals(statement.charges.all(), statement.reversals.all()),
    )
    totals = Table(
        [
            [p("服务费合计", small), p(header["服务费合计"]), p("邀请方分配合计", small), p(header["邀请方分配合计"]),
             p("应付受邀方合计", small), p(header["应付受邀方合计"])],
        ],
        colWidths=[26 * mm, width / 3 - 26 * mm] * 3,
    )
    totals.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, grid),
        ("BACKGROUND", (0, 0), (0, 0), shade),
        ("BACKGROUND", (2, 0), (2, 0), shade),
        ("BACKGROUND", (4, 0), (4, 0), shade),
    ]))
    status = Table(
        [
            [p("邀请方确认", small), p(_who(header["邀请方确认"], statement.inviting_confirmed_by))],
            [p("受邀方确认", small), p(_who(header["受邀方确认"], statement.invited_confirmed_by))],
            [p("付款", small), p(header["付款"])],
            [p("对账", small), p(("【一致】" if check.passed else "【不一致】") + check.text)],
        ],
        colWidths=[28 * mm, width - 28 * mm],
    )
    status.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, grid),
        ("BACKGROUND", (0, 0), (0, -1), shade),
    ]))
    signatures = Table(
        [[p("邀请方财务（签章）：", base), "", p("受邀方财务（签章）：", base), ""]],
        colWidths=[40 * mm, width / 2 - 45 * mm, 40 * mm, width / 2 - 35 * mm], rowHeights=[12 * mm],
    )
    signatures.setStyle(TableStyle([
        ("LINEBELOW", (1, 0), (1, 0), 0.5, colors.black),
        ("LINEBELOW", (3, 0), (3, 0), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
    ]))
    story = [
        p(TITLE, title),
        facts_table,
        p("收费明细（冲正为负数）", heading),
        lines_table,
        KeepTogether([  # the closing block is never split from its headings
            p("合计（元）", heading),
            totals,
            p("确认与付款（JL-B4 第四十二条：费用支付至受邀方远程医疗结算专户）", heading),
            status,
            Spacer(1, 10 * mm),
            signatures,
        ]),
    ]
    footer = f"{TITLE}  JS-{statement.pk:06d}  {statement.period_start:%Y-%m}  生成于 {beijing(generated_at)}（北京时间）"
    document.build(story, canvasmaker=_numbered_canvas(footer))
    return out.getvalue()


def _who(text: str, user) -> str:
    if user is None:
        return text
    name = user.get_full_name() or user.get_username()
    return f"{text}，{name}"


def _escape(text: str) -> str:
    """Paragraph text is a small markup language: escape what a user typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- Per-person payout reports (JL-B6, art. 43) ---------------------------------------------------

PAYOUT_TITLE = "远程医疗医务人员绩效分配表"
PAYOUT_FORMATS = {"csv": "text/csv; charset=utf-8", "xlsx": CONTENT_TYPES["xlsx"]}
PAYOUT_COLUMNS = ("医务人员", "分配依据", "类别", "申请编号", "完成时间（北京时间）", "服务项目", "该笔医务人员部分（元）", "个人金额（元）")
PERSON_COLUMNS = ("医务人员", "笔数", "个人合计（元）")


def payout_header_rows(report) -> list[tuple[str, str]]:
    """Everything above the lines; money as ``rules.yuan`` text, the reconciliation in words."""
    check = rules.payout_reconcile_check(lines_total_fen=report.lines_total_fen, staff_total_fen=report.staff_total_fen)
    return [
        ("机构", report.facility.name),
        ("月份", f"{report.month:%Y-%m}"),
        ("版本", f"第 {report.version} 版" + (f"（更正第 {report.version - 1} 版）" if report.supersedes_id else "")),
        ("状态", str(report.get_state_display())),
        ("收费笔数", str(report.charge_count)),
        ("本机构分配合计", rules.yuan(report.share_total_fen)),
        ("医务人员部分", rules.yuan(report.staff_total_fen)),
        ("个人分配合计", rules.yuan(report.lines_total_fen)),
        ("对账（JL-B6）", ("一致：" if check.passed else "不一致：") + check.detail),
        ("确认", f"已确认 {beijing(report.confirmed_at)}" if report.confirmed_at else "未确认"),
    ]


def _payout_row(line) -> list:
    charge = line.charge
    return [
        line.physician.name, str(line.get_role_display()), str(line.get_kind_display()), charge.consultation.number,
        timezone.localtime(charge.completed_at, rules.BEIJING).strftime("%Y-%m-%d %H:%M:%S"), charge.service_type.name,
    ]


def payout_csv(report, lines, persons) -> bytes:
    """UTF-8 with a BOM (Excel on Chinese Windows); every cell through ``spreadsheet_row``."""
    out = io.StringIO()
    writer = _SafeCsvWriter(csv.writer(out, lineterminator="\r\n"))
    writer.writerow([PAYOUT_TITLE])
    for label, value in payout_header_rows(report):
        writer.writerow([label, value])
    writer.writerow([])
    writer.writerow(PERSON_COLUMNS)
    for person in persons:
        writer.writerow([person.name, str(person.line_count), yuan_plain(person.amount_fen)])
    writer.writerow([])
    writer.writerow(PAYOUT_COLUMNS)
    for line in lines:
        writer.writerow([*_payout_row(line), yuan_plain(line.staff_part_fen), yuan_plain(line.amount_fen)])
    writer.writerow(["合计", "", "", "", "", "", "", yuan_plain(sum(line.amount_fen for line in lines))])
    return out.getvalue().encode("utf-8-sig")


def payout_xlsx(report, lines, persons) -> bytes:
    """Sheet 汇总 (header block and one row per person) and sheet 明细 (one row per line)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    money_format = "#,##0.00;[Red]-#,##0.00"
    workbook = Workbook()
    summary = workbook.active
    summary.title = "汇总"
    summary.append([PAYOUT_TITLE])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in payout_header_rows(report):
        summary.append(spreadsheet_row([label, value]))
    summary.append([])
    summary.append(list(PERSON_COLUMNS))
    for person in persons:
        summary.append([*spreadsheet_row([person.name]), person.line_count, _cell_yuan(person.amount_fen)])
        summary.cell(row=summary.max_row, column=3).number_format = money_format
    summary.column_dimensions["A"].width = 20
    summary.column_dimensions["B"].width = 40
    detail = workbook.create_sheet("明细")
    detail.append(list(PAYOUT_COLUMNS))
    detail.freeze_panes = "A2"
    for line in lines:
        detail.append([*spreadsheet_row(_payout_row(line)), _cell_yuan(line.staff_part_fen), _cell_yuan(line.amount_fen)])
        for column in (7, 8):
            detail.cell(row=detail.max_row, column=column).number_format = money_format
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render_payout(report, lines, persons, fmt: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of a payout report export; ``fmt`` is csv or xlsx."""
    writer = {"csv": payout_csv, "xlsx": payout_xlsx}[fmt]
    name = f"绩效分配表_{report.facility.name}_{report.month:%Y-%m}_v{report.version}.{fmt}"
    return writer(report, lines, persons), PAYOUT_FORMATS[fmt], name
