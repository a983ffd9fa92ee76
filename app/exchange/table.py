"""Reading an upload (CSV or XLSX bytes) into numbered rows of cells, and the import report.

Rows are numbered as the user sees them in a spreadsheet: the first row of the
sheet (normally the header) is row 1, and a CSV record spanning several lines
(a quoted cell with a line break) is one row, as a spreadsheet shows it.

Limits, each reported as a clear error rather than a crash or a hang:

* the upload's size (``max_bytes``); an XLSX is a zip, so its expanded size is
  capped too (:data:`MAX_XLSX_EXPANDED_BYTES`) against zip bombs;
* the number of data rows (``max_rows``, default 100,000), and of blank rows
  scanned, so a sheet formatted down to row 1,048,576 cannot stall an import;
* columns (:data:`MAX_COLUMNS`) and cell length (the CSV field limit).

XML entity bombs in an XLSX are stopped by the XML parser itself (expat 2.4+
refuses billion-laughs amplification; openpyxl uses the standard library's).

Formats: the type is recognised from the bytes, not only from the name (a
renamed file is read as what it is): XLSX (a zip with ``xl/workbook.xml``),
else text as CSV. Old binary ``.xls``, OpenDocument, PDF and other binary
files are refused with the reason. CSV text may be UTF-8 (with or without a
byte-order mark), UTF-16 with a byte-order mark (Excel's "Unicode text"), or
Windows-1252 (Excel's "CSV" on Windows); the separator is a comma, semicolon
or tab, whichever the first row uses.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.exchange.values import Formula, SheetError, SheetText, is_blank

DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_XLSX_EXPANDED_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 100
# Blank rows tolerated between and after data rows before the scan stops.
MAX_BLANK_ROWS = 10_000

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv"


@dataclass(frozen=True)
class ParseError:
    """One problem in an upload.

    ``row`` is the row number the user sees (header = row 1), None for a problem
    with the file as a whole; ``column`` is the column's header (for HXL, its
    hashtag), None when the problem is not one column's.
    """

    row: int | None
    column: str | None
    reason: str

    @property
    def path(self) -> str:
        """Where, in words: ``row 5, quantity`` / ``row 1`` / ``file``.

        Routes pass it as ``FieldIssue.path`` so a 422 lists sheet positions.
        """
        if self.row is None:
            return "file" if self.column is None else f"column {self.column}"
        return f"row {self.row}" if self.column is None else f"row {self.row}, {self.column}"

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class ParseResult:
    """What an import read: typed rows ready for the domain services, or the errors.

    When ``errors`` is not empty, ``rows`` is empty: a file with any error
    imports nothing, and a caller cannot import part of it by mistake.
    ``row_numbers[i]`` is the sheet row of ``rows[i]`` (to report a problem the
    service finds, e.g. a duplicate in the database, at the user's row), and
    ``row_meta[i]`` carries what the file said beyond the service's fields
    (HXL: the agency and the need's id); empty dicts otherwise.
    """

    kind: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    row_meta: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def seal(self) -> ParseResult:
        """Drop the rows if anything was wrong; errors sorted by row, file-level first."""
        if self.errors:
            self.rows, self.row_numbers, self.row_meta = [], [], []
            self.errors.sort(key=lambda e: -1 if e.row is None else e.row)
        return self


class UploadRejected(Exception):
    """The upload cannot be read at all; ``errors`` says why (file-level, or a row)."""

    def __init__(self, *errors: ParseError) -> None:
        super().__init__("; ".join(e.reason for e in errors))
        self.errors = list(errors)


def _file_error(reason: str, row: int | None = None) -> UploadRejected:
    return UploadRejected(ParseError(row, None, reason))


def detect_format(data: bytes, filename: str | None, content_type: str | None) -> str:
    """``"xlsx"`` or ``"csv"``; raises UploadRejected for anything else."""
    name = (filename or "").lower()
    media = (content_type or "").split(";")[0].strip().lower()
    if not data:
        raise _file_error("the file is empty (0 bytes)")
    head = data[:8]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            "this is an old Excel .xls (or another Office 97) file; save it as .xlsx or CSV"
        )
    if head.startswith(b"%PDF"):
        raise _file_error("this is a PDF, not a spreadsheet; upload a CSV or XLSX file")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if "mimetype" in names and b"opendocument" in archive.read("mimetype")[:100]:
                    raise _file_error(
                        "this is an OpenDocument spreadsheet (.ods); save it as .xlsx or CSV"
                    )
                if "xl/workbook.xml" not in names:
                    raise _file_error("this zip file is not an XLSX workbook")
        except zipfile.BadZipFile:
            raise _file_error("the XLSX file is damaged (not a readable zip)") from None
        return "xlsx"
    if name.endswith((".xlsx", ".xlsm")) or media == XLSX_MEDIA_TYPE:
        raise _file_error("the file is named as XLSX but is not one; save it again as .xlsx")
    if name.endswith((".xls", ".ods", ".numbers", ".pdf", ".docx", ".json", ".xml")):
        raise _file_error("upload a CSV or XLSX file")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error("this is not a text (CSV) file nor an XLSX workbook")
    return "csv"


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _file_error("the file claims to be UTF-16 text but is not") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel's plain "CSV" on Windows; accents in names must survive.
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise _file_error(
            "the file's text encoding is not recognised; save it as CSV UTF-8"
        ) from None


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(data)
    if "\x00" in text:
        raise _file_error("the file contains NUL characters; it is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _file_error(f"CSV cannot be read: {exc}", row=number + 1) from None
        number += 1
        if len(record) > MAX_COLUMNS:
            raise _file_error(f"more than {MAX_COLUMNS} columns", row=number)
        yield number, [cell if cell != "" else None for cell in record]


def _xlsx_value(cell: Any) -> Any:
    value = cell.value
    if value is None:
        return None
    kind = getattr(cell, "data_type", None)
    if kind == "f" or (kind != "s" and isinstance(value, str) and value.startswith("=")):
        return Formula(str(value))
    if kind == "e":
        return SheetError(str(value))
    if isinstance(value, str):
        return SheetText(value)
    if not isinstance(value, str | int | float | bool) and not hasattr(value, "isoformat"):
        # Array formulas and other objects openpyxl hands back for formulas.
        return Formula(str(value))
    return value


def _xlsx_rows(data: bytes, sheet: str | None) -> Iterator[tuple[int, list[Any]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _file_error("the XLSX file is damaged (not a readable zip)") from None
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise _file_error(
            f"the XLSX file expands to {expanded // (1024 * 1024)} MiB; at most "
            f"{MAX_XLSX_EXPANDED_BYTES // (1024 * 1024)} MiB"
        )
    from openpyxl import load_workbook  # imported here: CSV-only callers never pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise _file_error(
            f"the XLSX file cannot be read ({type(exc).__name__}); "
            "save it again from your spreadsheet program"
        ) from None
    try:
        names = workbook.sheetnames
        if not names:
            raise _file_error("the workbook has no sheet")
        chosen = sheet if sheet in names else names[0]
        worksheet = workbook[chosen]
        try:
            for number, row in enumerate(worksheet.iter_rows(max_col=MAX_COLUMNS), start=1):
                # iter_rows numbers from the sheet's first stored row, so use the cells' own.
                actual = next((c.row for c in row if getattr(c, "row", None)), number)
                yield actual, [_xlsx_value(c) for c in row]
        except UploadRejected:
            raise
        except Exception as exc:
            raise _file_error(
                f"the XLSX file cannot be read ({type(exc).__name__}); "
                "save it again from your spreadsheet program"
            ) from None
    finally:
        workbook.close()


def read_rows(
    data: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sheet: str | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """Every physical row as (row number, cells), blank ones included, trailing blanks trimmed.

    Raises UploadRejected (before yielding, for the file's size and type; while
    iterating, for a damaged file).
    """
    if len(data) > max_bytes:
        raise _file_error(
            f"the file is {len(data):,} bytes; at most {max_bytes:,} bytes may be uploaded"
        )
    kind = detect_format(data, filename, content_type)
    rows = _xlsx_rows(data, sheet) if kind == "xlsx" else _csv_rows(data)
    for number, cells in rows:
        while cells and is_blank(cells[-1]):
            cells.pop()
        yield number, cells


def too_many_rows(max_rows: int) -> UploadRejected:
    return _file_error(
        f"the file has more than {max_rows:,} data rows; split it into files of at most "
        f"{max_rows:,} rows"
    )


def data_rows(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """The non-blank rows of ``rows`` (the caller counts them against its cap).

    Stops after MAX_BLANK_ROWS blank rows in a row: a sheet formatted down to its
    last row must not cost a million iterations, and nobody leaves ten thousand
    empty rows between two rows of data.
    """
    blanks = 0
    for number, cells in rows:
        if not cells:
            blanks += 1
            if blanks > MAX_BLANK_ROWS:
                return
            continue
        blanks = 0
        yield number, cells
