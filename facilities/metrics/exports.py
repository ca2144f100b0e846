"""Each dashboard table as an Excel workbook (openpyxl), with the numbers of the page.

Counts and money (元, exact) are numbers, rates, means and intervals the text the page shows. Every
cell goes through ``telemed.text.spreadsheet_cell`` (no cell can become a formula), and every export
is on record (``services.metrics_export_record``).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font

from telemed.text import spreadsheet_row

from .tables import Table

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_xlsx(table: Table, *, title: str, period_text: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.key[:31]
    sheet.append(spreadsheet_row([title]))
    sheet.append(spreadsheet_row([period_text]))
    sheet.append(spreadsheet_row([table.caption]))
    sheet.append(spreadsheet_row(table.columns))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    header_row = sheet.max_row
    for row in table.rows:
        sheet.append(spreadsheet_row([value for _text, _href, value in row]))
        for cell, (_text, _href, value) in zip(sheet[sheet.max_row], row, strict=True):
            if value is not None and not isinstance(value, (str, int)):
                cell.number_format = "#,##0.00"
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=2)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
