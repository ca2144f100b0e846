"""Statement exports (JL-B4): CSV with a BOM, an Excel workbook that reconciles to the fen, a PDF."""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from billing import exports, selectors
from tests.billing import IMAGING_FEN, priced, statement_with_lines

pytestmark = pytest.mark.django_db

FULL_ACCOUNT = "2201000012345678"


@pytest.fixture
def statement(world):
    """Three imaging charges (two paid by the patient), one of them refused and reversed."""
    billing = priced(world)
    drafted = statement_with_lines(billing, charges=3, paid=2, reversed_=1)
    return selectors.statement_detail(user=billing.inviting_finance, pk=drafted.pk)


def fen(value) -> int:
    """An Excel cell read back (a float) → whole fen, via its decimal text, never float arithmetic."""
    hundredths = Decimal(str(value)) * 100
    assert hundredths == hundredths.to_integral_value(), value
    return int(hundredths)


# --- CSV ----------------------------------------------------------------------------------------


def test_jl_b4_csv_is_utf8_with_bom_and_has_parties_masked_account_lines_and_totals(statement):
    content = exports.statement_csv(statement)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header = {row[0]: row[1] for row in rows if len(row) == 2}
    assert rows[0] == ["远程医疗服务费用结算单"]
    assert header["邀请方（付款方）"] == "农安县人民医院" and header["受邀方（收款方）"] == "吉林大学第一医院"
    assert header["结算期"] == f"{statement.period_start:%Y-%m-%d} 至 {statement.period_end:%Y-%m-%d}"
    assert "************5678" in header["收款专户"] and FULL_ACCOUNT not in content.decode("utf-8-sig")
    # 3 × 150.01 − 150.01 (the reversal) = 300.02; the invited share 3 × 120.01 − 120.01 = 240.02.
    assert (header["服务费合计（元）"], header["邀请方分配合计（元）"], header["应付受邀方合计（元）"]) == ("300.02", "60.00", "240.02")
    assert header["笔数"] == "4" and header["状态"] == "待双方确认"

    start = rows.index(list(exports.COLUMNS))
    lines, total = rows[start + 1:-1], rows[-1]
    assert [line[0] for line in lines] == ["收费", "收费", "收费", "冲正"]
    assert {line[1] for line in lines} == {c.consultation.number for c in statement.charges.all()}
    charge_rows = lines[:3]
    assert all(line[4:7] == ["150.01", "30.00", "120.01"] for line in charge_rows)
    assert [line[9:11] for line in charge_rows if line[8]] == [["100.00", "50.01"], ["100.00", "50.01"]]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", line[2]) for line in lines)
    reversal = lines[3]
    assert reversal[4:7] == ["-150.01", "-30.00", "-120.01"] and reversal[9:11] == ["-100.00", "-50.01"]
    assert "重复收费，退费" in reversal[11]
    assert total[0] == "合计" and total[4:7] == ["300.02", "60.00", "240.02"]


def test_jl_b4_mask_keeps_only_the_last_four_digits():
    assert exports.mask_account("2201 0000 1234 5678") == "************5678"
    assert exports.yuan_plain(-123456) == "-1234.56" and exports.yuan_plain(5) == "0.05"


# --- Excel --------------------------------------------------------------------------------------


def test_jl_b4_xlsx_opens_and_its_numbers_equal_the_stored_totals_to_the_fen(statement):
    workbook = load_workbook(io.BytesIO(exports.statement_xlsx(statement)))
    assert workbook.sheetnames == ["结算单"]
    sheet = workbook["结算单"]
    labels = {row[0].value: row for row in sheet.iter_rows()}
    header_row = labels["类别"][0].row
    assert sheet.freeze_panes == f"A{header_row + 1}"
    assert sheet.column_dimensions["B"].width >= 20 and sheet.column_dimensions["H"].width >= 30

    assert fen(labels["服务费合计（元）"][1].value) == statement.fee_total_fen == 30002
    assert fen(labels["应付受邀方合计（元）"][1].value) == statement.invited_share_total_fen == 24002

    lines = [row for row in sheet.iter_rows(min_row=header_row + 1) if row[0].value in ("收费", "冲正")]
    assert len(lines) == 4
    for column, stored in ((4, statement.fee_total_fen), (5, statement.inviting_share_total_fen), (6, statement.invited_share_total_fen)):
        assert sum(fen(row[column].value) for row in lines) == stored
        assert lines[0][column].number_format.startswith("#,##0.00")
    assert fen(lines[0][4].value) == IMAGING_FEN and fen(lines[3][4].value) == -IMAGING_FEN

    stored = labels["结算单记载合计"]
    assert [fen(stored[c].value) for c in (4, 5, 6)] == [30002, 6000, 24002] and stored[1].value == 4
    sums = labels["合计（按明细公式）"]
    first, last = lines[0][0].row, lines[-1][0].row
    assert sums[4].value == f"=SUM(E{first}:E{last})" and sums[6].value == f"=SUM(G{first}:G{last})"
    assert labels["核对（JL-B4）"][1].value.startswith(f"=IF(AND(B{sums[0].row}=B{stored[0].row},ROUND(E{sums[0].row},2)=")


# --- Formula injection (issue 8) ----------------------------------------------------------------

RECEIPT = '=HYPERLINK("http://evil.example/x","点击查看")'
REASON = "+cmd|' /C calc'!A0"
BANK = "@SUM(1+1)"


@pytest.fixture
def hostile(world):
    """A statement whose receipt number, reversal reason and bank name were typed as formulas (a
    receipt is a cell of its own; the reason and the bank name sit inside longer texts)."""
    from billing import services
    from tests.billing import complete, draft

    billing = priced(world)
    charge = complete(world)
    services.charge_record_payment(
        actor=billing.inviting_finance, charge=charge, fiscal_receipt_number=RECEIPT, insurance_fen=0,
        self_pay_fen=charge.fee_fen, paid_at=charge.completed_at,
    )
    services.settlement_account_register(
        actor=billing.invited_finance, facility=billing.invited, account_name=billing.invited.name, bank_name=BANK,
        account_number="2201 0000 1234 5678",
    )
    draft(billing)
    services.charge_reverse(actor=billing.inviting_finance, charge=charge, reason=REASON)
    statement = draft(billing)
    return selectors.statement_detail(user=billing.inviting_finance, pk=statement.pk)


def test_spreadsheet_cell_prefixes_formula_text_and_keeps_numbers():
    from telemed.text import spreadsheet_cell

    for text in ("=1+1", "+1", "-1+2", "@A1", "\t=1", "\r=1", "-", "=HYPERLINK(\"x\")"):
        assert spreadsheet_cell(text) == "'" + text
    for value in ("-1234.56", "-5", "300.02", "吉财医 00000001", "", -150.01, Decimal("-150.01"), None, 3):
        assert spreadsheet_cell(value) == value


def test_jl_b4_csv_cells_typed_as_formulas_are_neutralised(hostile):
    rows = list(csv.reader(io.StringIO(exports.statement_csv(hostile).decode("utf-8-sig"))))
    cells = [cell for row in rows for cell in row]
    assert "'" + RECEIPT in cells and RECEIPT not in cells
    assert any(REASON in cell for cell in cells)  # inside the note "冲正 …：", where it cannot start a formula
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
    start = rows.index(list(exports.COLUMNS))
    reversal = [row for row in rows[start + 1:] if row[0] == "冲正"][0]
    assert reversal[4] == "-150.01"  # a refund stays a number Excel can add


def test_jl_b4_xlsx_cells_typed_as_formulas_are_text_and_negative_money_stays_a_number(hostile):
    sheet = load_workbook(io.BytesIO(exports.statement_xlsx(hostile)))["结算单"]
    labels = {row[0].value: row for row in sheet.iter_rows()}
    header_row = labels["类别"][0].row
    lines = [row for row in sheet.iter_rows(min_row=header_row + 1) if row[0].value in ("收费", "冲正")]
    receipt = lines[0][8]
    assert receipt.value == "'" + RECEIPT and receipt.data_type != "f"
    assert BANK in labels["收款专户"][1].value and labels["收款专户"][1].data_type != "f"
    refund = lines[1][4]
    assert refund.data_type == "n" and fen(refund.value) == -IMAGING_FEN
    formulas = [cell.coordinate for row in sheet.iter_rows(max_row=sheet.max_row) for cell in row
                if cell.data_type == "f" and row[0].row <= lines[-1][0].row]
    assert formulas == []  # only the SUM / IF rows below the lines are formulas


# --- PDF ----------------------------------------------------------------------------------------


def _pdf_text(content: bytes) -> str:
    """The text a PDF draws: reportlab's streams are ASCII85 + Flate; STSong-Light strings are
    UCS-2 (UniGB-UCS2-H) in ``(...) Tj`` literals with octal escapes."""
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", content, re.S):
        raw = stream.strip()
        try:
            raw = zlib.decompress(base64.a85decode(raw.removesuffix(b"~>")))
        except ValueError:
            continue
        except zlib.error:
            continue
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", raw, re.S):
            data = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)),
                literal,
            )
            texts.append(data.decode("utf-16-be", errors="replace") if len(data) % 2 == 0 else data.decode("latin-1"))
    return "".join(texts)


def test_jl_b4_pdf_is_a4_landscape_with_the_chinese_title_in_stsong_and_page_numbers(statement):
    content = exports.statement_pdf(statement)
    assert content.startswith(b"%PDF")
    assert b"/BaseFont /STSong-Light" in content and b"UniGB-UCS2-H" in content
    assert re.search(rb"/MediaBox \[\s*0 0 841\.88\d* 595\.27\d*\s*\]", content)  # A4 landscape
    text = _pdf_text(content)
    assert "远程医疗服务费用结算单" in text
    assert "农安县人民医院" in text and "吉林大学第一医院" in text
    assert "************5678" in text and FULL_ACCOUNT not in text
    assert "¥300.02" in text and "-¥150.01" in text and "¥240.02" in text
    assert "待双方确认" in text and "未付款" in text and "一致" in text
    assert "第 1 页 / 共 1 页" in text


def test_jl_b4_pdf_numbers_every_page_of_a_long_statement(world):
    billing = priced(world)
    drafted = statement_with_lines(billing, charges=40, paid=0, reversed_=0)
    statement = selectors.statement_detail(user=billing.invited_finance, pk=drafted.pk)
    text = _pdf_text(exports.statement_pdf(statement))
    pages = re.findall(r"第 (\d+) 页 / 共 (\d+) 页", text)
    assert len(pages) >= 2 and {total for _page, total in pages} == {str(len(pages))}
    assert text.count("申请编号") >= 2  # the column header repeats on every page the lines run over
    assert "邀请方财务（签章）" in text and text.index("对账") > text.rindex("申请编号")
