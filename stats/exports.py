"""Every dashboard table as CSV or XLSX, with the same cells as on screen: CSV carries the text
shown, XLSX the numbers as numbers (so a spreadsheet can compute with them) and the rest as text."""

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from stats.dashboard_tables import Table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
# Excel opens a UTF-8 CSV as such (Korean labels) only when it starts with a byte order mark.
BOM = "\ufeff"
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): quote it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def table_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_safe(label) for label in table.columns])
    for row in table.rows:
        writer.writerow([_safe(cell.text) for cell in row])
    return (BOM + buffer.getvalue()).encode("utf-8")


def table_xlsx(table: Table) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.slug[:31]
    sheet.append([str(label) for label in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([cell.value if _is_number(cell.value) else _safe(cell.text) for cell in row])
    _fit_columns(sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _safe(text) -> str:
    text = str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) and not _looks_numeric(text) else text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fit_columns(sheet) -> None:
    for column in sheet.columns:
        width = max((len(str(cell.value)) for cell in column if cell.value is not None), default=8)
        sheet.column_dimensions[column[0].column_letter].width = min(60, max(8, width + 2))
