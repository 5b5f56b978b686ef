"""Reading what users upload: text in any common encoding, PDF text layers, CSV and JSONL tables.

Every failure is an UploadError whose message says what is wrong and what to do; nothing here
guesses silently when a file is binary or undecodable.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from embedlab.messages import N_, LocalizedError, Message
from embedlab.text import clip

# Byte-order marks, longest first (UTF-32 LE starts with the UTF-16 LE mark).
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
# Magic numbers of formats people upload by mistake.
_BINARY_MAGIC = {
    b"\x89PNG": N_("a PNG image"),
    b"\xff\xd8\xff": N_("a JPEG image"),
    b"GIF8": N_("a GIF image"),
    b"PK\x03\x04": N_("a ZIP archive (or a .docx/.xlsx file)"),
    b"\x7fELF": N_("a program (ELF binary)"),
    b"\x1f\x8b": N_("a gzip archive"),
    b"\xd0\xcf\x11\xe0": N_("an old Microsoft Office file"),
}
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TEXT_COLUMN_NAMES = ("text", "content", "document", "doc", "body", "passage", "sentence", "query", "question")
# Among equally good guesses (a short text), Chinese codecs win, GB18030 first: "你好世界" in GBK
# also decodes without a flaw as Korean cp949 ("콱봤各썹"), "你好" as Big5 ("斕疑").
_CHINESE_CODECS = ("gb18030", "big5")
_CSV_DELIMITERS = {",": N_("comma"), ";": N_("semicolon"), "\t": N_("tab"), "|": N_("vertical bar")}
# Uploaded JSON is records of texts, ids and numbers; anything nested deeper is refused before
# Python's recursion limit is reached anywhere downstream (parsing, display, export).
MAX_JSON_DEPTH = 64
# A PDF's text is read within these bounds; past one the upload is refused, never cut silently.
MAX_PDF_PAGES = 2_000
MAX_PDF_CHARS = 5_000_000
MAX_PDF_SECONDS = 60.0
# Largest inflated stream (a page's content or a form): text pages need kilobytes, a few need
# megabytes; with pypdf's default (75 MB) a 146 kB one-page PDF kept the reader busy for 15 s.
# Parsing a stream cannot be interrupted, so this bounds the time spent before the clock is read.
MAX_PDF_STREAM_BYTES = 8_000_000


class UploadError(LocalizedError, ValueError):
    """An upload that cannot be used; the message is meant for the user (`error.message`, translated
    by the UI; str(error) is English)."""


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:20_000]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    return controls / len(sample)


def decode_bytes(data: bytes) -> DecodedText:
    """Decode uploaded bytes as text: BOMs first, then UTF-8, then charset detection.

    Raises:
        UploadError: empty, binary or undecodable data.
    """
    if not data:
        raise UploadError(N_("The file is empty."))
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise UploadError(N_("This looks like {kind}, not text. Upload a .txt, .md, .pdf, .csv or .jsonl file."),
                              kind=Message(kind))
    if data.startswith(b"%PDF"):
        raise UploadError(N_("This is a PDF file; upload it with a .pdf name so its text layer is read."))
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), encoding)
            except UnicodeDecodeError as exc:
                raise UploadError(N_("The file starts like {encoding} but is not valid {encoding} ({reason})."),
                                  encoding=encoding, reason=exc.reason) from None
    if b"\x00" in data[:8192]:
        raise UploadError(N_("The file contains NUL bytes: it looks binary, not text."))
    try:
        return _checked(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None or best.encoding is None:
        raise UploadError(
            N_("The file's text encoding could not be recognised (is it binary?). Save it as UTF-8 and retry.")
        )
    encoding = best.encoding
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    chinese = [c for c in _CHINESE_CODECS if c in tied]
    if chinese:
        encoding = chinese[0]
    # Single-byte Western text fits many code pages equally well; among equally good candidates
    # prefer Windows-1252 (a superset of Latin-1's printable range), by far the most common.
    elif encoding not in ("cp1252", "latin_1") and tied & {"cp1252", "latin_1"}:
        encoding = "cp1252" if "cp1252" in tied else "latin_1"
    # GBK/GB2312 guesses are decoded as GB18030, their superset, so no character is lost.
    if encoding.lower() in ("gbk", "gb2312", "cp936"):
        encoding = "gb18030"
    try:
        return _checked(data.decode(encoding), encoding)
    except (UnicodeDecodeError, LookupError):
        raise UploadError(N_("The file looked like {encoding} but does not decode as it."), encoding=encoding) from None


def _checked(text: str, encoding: str) -> DecodedText:
    if _control_ratio(text) > 0.05:
        raise UploadError(N_("The file is mostly control characters: it looks binary, not text."))
    return DecodedText(text=text, encoding=encoding)


class _PdfBudgetSpent(Exception):
    """Raised from pypdf's extraction callbacks to stop mid-page; carries the user's message."""


class _PdfBudget:
    """Characters and seconds left while reading one PDF; once spent, every check raises again
    (pypdf swallows errors inside form XObjects, so the next operator outside one must stop it)."""

    def __init__(self, max_chars: int, max_seconds: float) -> None:
        self.max_chars, self.max_seconds = max_chars, max_seconds
        self.deadline = time.monotonic() + max_seconds
        self.chars = 0  # characters of the finished pages
        self.page_chars = 0  # characters reported so far on the page being read
        self.page = 0  # 1-based number of that page
        self.pages = 0
        self.spent: Message | None = None

    def check(self, *_: Any) -> None:
        if self.spent is None and time.monotonic() > self.deadline:
            self.spent = Message(N_(
                "Reading the PDF's text took longer than {seconds} s and was stopped at page "
                "{page} of {pages}. The file may be malformed or built to exhaust the reader; "
                "split it into smaller PDFs, or save its text as .txt and upload that."
            ), {"seconds": f"{self.max_seconds:g}", "page": self.page, "pages": self.pages})
        if self.chars + self.page_chars > self.max_chars and self.spent is None:
            self.spent = Message(N_(
                "The PDF holds more than {limit} characters of text (reached on page {page} "
                "of {pages}); split it into smaller PDFs and upload those."
            ), {"limit": f"{self.max_chars:,}", "page": self.page, "pages": self.pages})
        if self.spent is not None:
            raise _PdfBudgetSpent(self.spent)

    def count(self, text: Any, *_: Any) -> None:
        self.page_chars += len(text) if isinstance(text, str) else 0
        self.check()


def _read_pages(reader: Any, budget: _PdfBudget, max_pages: int) -> list[str]:
    """The text of each page of a pypdf `PdfReader`, `budget` checked before, while and after
    reading each page.

    Raises:
        UploadError: an encrypted PDF, or one of more than `max_pages` pages.
        _PdfBudgetSpent: the characters or seconds ran out.
    """
    if reader.is_encrypted:
        raise UploadError(N_("The PDF is password-protected; save an unprotected copy and retry."))
    budget.pages = len(reader.pages)
    if budget.pages > max_pages:
        raise UploadError(
            N_("The PDF has {pages} pages; at most {limit} are read from one file. "
               "Split it into smaller PDFs and upload those."),
            pages=f"{budget.pages:,}", limit=f"{max_pages:,}",
        )
    pages: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        budget.page, budget.page_chars = number, 0
        budget.check()
        text = page.extract_text(visitor_operand_before=budget.check, visitor_text=budget.count) or ""
        budget.page_chars = len(text)
        budget.check()
        budget.chars += len(text)
        pages.append(text)
    return pages


def extract_pdf_text(
    data: bytes, *, max_pages: int = MAX_PDF_PAGES, max_chars: int = MAX_PDF_CHARS,
    max_seconds: float = MAX_PDF_SECONDS,
) -> DecodedText:
    """The text layer of a PDF, pages separated by blank lines.

    Reading is bounded: at most `max_pages` pages, `max_chars` characters of text and
    `max_seconds` seconds (checked at every content-stream operator), and no stream inflates past
    MAX_PDF_STREAM_BYTES. A PDF past a bound is refused whole, never cut.

    Raises:
        UploadError: unreadable, encrypted or too large a PDF, or one without a text layer (scanned images).
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    budget = _PdfBudget(max_chars, max_seconds)
    limits = {name: MAX_PDF_STREAM_BYTES for name in (
        "zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
        "brotli_maximum_output_length", "array_based_stream_maximum_output_length",
    )}
    try:
        with apply_configuration(**limits):
            pages = _read_pages(PdfReader(io.BytesIO(data)), budget, max_pages)
    except UploadError:
        raise
    except _PdfBudgetSpent as spent:
        reason: Message = spent.args[0]
        raise UploadError(reason.msgid, **reason.params) from None
    except LimitReachedError as exc:
        raise UploadError(
            N_("The PDF could not be read: part of it would expand past what the reader allows "
               "({detail}). It may be a decompression bomb or a damaged file; save its text as .txt "
               "and upload that."), detail=str(exc)[:120],
        ) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        # pypdf raises these, besides its own errors, on malformed files.
        raise UploadError(N_("The PDF could not be read ({detail})."),
                          detail=f"{type(exc).__name__}: {str(exc)[:120]}") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise UploadError(
            N_("The PDF has {n} page(s) but no text layer (scanned images?). "
               "Run OCR on it first, or paste its text."), n=len(pages),
        )
    return DecodedText(text=text, encoding="pdf")


def extract_text(data: bytes, filename: str) -> DecodedText:
    """Text of an uploaded document: PDFs (by name or content) through pypdf, others decoded."""
    if PurePath(filename).suffix.lower() == ".pdf" or data.startswith(b"%PDF"):
        return extract_pdf_text(data)
    return decode_bytes(data)


class _TooDeep(Exception):
    """JSON nested past MAX_JSON_DEPTH (or past what the parser's recursion can follow)."""


def _cleaned(value: Any, depth: int = 0) -> Any:
    """`value` with lone surrogates replaced by U+FFFD in keys and values at any depth: JSON escapes
    can encode them ("\\ud83d"), and no page can display or send them.

    Raises:
        _TooDeep: lists or objects nested more than MAX_JSON_DEPTH levels.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list | dict):
        if depth >= MAX_JSON_DEPTH:
            raise _TooDeep
        if isinstance(value, list):
            return [_cleaned(v, depth + 1) for v in value]
        return {_cleaned(k, depth + 1): _cleaned(v, depth + 1) for k, v in value.items()}
    return value


def _load_json(text: str) -> Any:
    """json.loads, then `_cleaned`; raises json.JSONDecodeError or _TooDeep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _TooDeep from None
    return _cleaned(value)


@dataclass(frozen=True)
class JsonLines:
    """The objects of a JSON Lines upload.

    Attributes:
        records: one dict per non-blank line.
        lines: the 1-based line number of each record (blank lines are skipped).
        encoding: how the bytes were decoded (see decode_bytes).
    """

    records: list[dict]
    lines: list[int]
    encoding: str


def load_jsonl(data: bytes) -> JsonLines:
    """Parse JSON Lines: one object per non-blank line.

    Raises:
        UploadError: naming the first broken line (1-based).
    """
    decoded = decode_bytes(data)
    return _parse_jsonl(decoded.text, decoded.encoding)


def _parse_jsonl(text: str, encoding: str) -> JsonLines:
    records, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = _load_json(line)
        except json.JSONDecodeError as exc:
            # Some messages end in "at" already ("Unterminated string starting at").
            where = f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else f"{exc.msg} at column {exc.colno}"
            raise UploadError(N_("Line {line} is not valid JSON ({where})."), line=number, where=where) from None
        except _TooDeep:
            raise UploadError(N_("Line {line} nests lists or objects more than {depth} levels deep; records here "
                                 "are flat objects of texts, ids and numbers: flatten it and upload again."),
                              line=number, depth=MAX_JSON_DEPTH) from None
        if not isinstance(value, dict):
            raise UploadError(N_("Line {line} is a JSON {kind}, expected an object {{...}}."),
                              line=number, kind=type(value).__name__)
        records.append(value)
        lines.append(number)
    if not records:
        raise UploadError(N_("The file holds no JSON objects."))
    return JsonLines(records, lines, encoding)


def read_jsonl(data: bytes) -> list[dict]:
    """The objects of a JSON Lines upload (see load_jsonl); raises UploadError naming the line."""
    return load_jsonl(data).records


def _unique_header(names: list[str]) -> list[str]:
    """Column names as pandas makes them: blanks become "Unnamed: i", repeats "name.1"."""
    out: list[str] = []
    for i, name in enumerate(names):
        base = name if name.strip() else f"Unnamed: {i}"
        candidate, n = base, 1
        while candidate in out:
            candidate, n = f"{base}.{n}", n + 1
        out.append(candidate)
    return out


def _read_csv(text: str, delimiter: str | None) -> pd.DataFrame:
    """A delimited table of strings with every row kept whole.

    The delimiter (when None) is guessed from the header line among , ; tab and |. A row with
    fewer fields than the header is padded with empty cells; a row with more non-empty fields is
    refused with its line number, since dropping or shifting values would misplace every column.

    Raises:
        UploadError: unparseable quoting, rows wider than the header, or no header.
    """
    if delimiter is None:
        header_line = next((line for line in text.splitlines() if line.strip()), "")
        try:
            delimiter = csv.Sniffer().sniff(header_line, delimiters="".join(_CSV_DELIMITERS)).delimiter
        except csv.Error:  # one column: nothing to find
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[list[str]] = []
    wide: list[tuple[int, int]] = []  # (first line of the row, its field count)
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
                continue
            if len(row) > len(header):
                if any(cell.strip() for cell in row[len(header):]):
                    wide.append((line, len(row)))
                    continue
                row = row[: len(header)]  # trailing empty fields (a delimiter at the end of the line)
            rows.append(row + [""] * (len(header) - len(row)))
    except csv.Error as exc:
        raise UploadError(N_("Line {line} of the CSV file could not be parsed ({detail})."),
                          line=reader.line_num, detail=str(exc)) from None
    if header is None:
        raise UploadError(N_("The table has no rows."))
    if wide:
        line, fields = wide[0]
        name = Message(_CSV_DELIMITERS[delimiter]) if delimiter in _CSV_DELIMITERS else repr(delimiter)
        params = {"line": line, "fields": fields, "columns": len(header), "header": clip(", ".join(header), 120),
                  "delimiter": name}
        if len(wide) > 1:
            raise UploadError(
                N_("Line {line} has {fields} fields but the header has {columns} ({header}) (and {more} more "
                   "row(s) like it): its values would land in the wrong columns. Put values that contain a "
                   "{delimiter} in double quotes, or remove the extra fields, and upload again."),
                more=f"{len(wide) - 1:,}", **params,
            )
        raise UploadError(
            N_("Line {line} has {fields} fields but the header has {columns} ({header}): its values would "
               "land in the wrong columns. Put values that contain a {delimiter} in double quotes, or remove "
               "the extra fields, and upload again."), **params,
        )
    return pd.DataFrame(rows, columns=_unique_header(header), dtype=object)


@dataclass(frozen=True)
class Table:
    """A table upload: its rows, and how its bytes were decoded (see decode_bytes)."""

    frame: pd.DataFrame
    encoding: str


def load_table(data: bytes, filename: str) -> Table:
    """A CSV/TSV or JSONL (or JSON array) upload as a DataFrame of strings where textual.

    Raises:
        UploadError: unreadable file, rows wider than the header, or no rows.
    """
    suffix = PurePath(filename).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        decoded = decode_bytes(data)
        if suffix == ".json" and decoded.text.lstrip().startswith("["):
            try:
                value = _load_json(decoded.text)
            except json.JSONDecodeError as exc:
                raise UploadError(N_("The JSON file is not valid ({detail} at line {line})."),
                                  detail=exc.msg, line=exc.lineno) from None
            except _TooDeep:
                raise UploadError(N_("The JSON file nests lists or objects more than {depth} levels deep; records "
                                     "here are flat objects of texts, ids and numbers: flatten it and upload again."),
                                  depth=MAX_JSON_DEPTH) from None
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise UploadError(N_("A .json upload must be an array of objects or JSON Lines."))
            records = value
        else:
            records = _parse_jsonl(decoded.text, decoded.encoding).records
        frame = pd.DataFrame.from_records(records)
    elif suffix in (".csv", ".tsv", ".txt"):
        decoded = decode_bytes(data)
        frame = _read_csv(decoded.text, "\t" if suffix == ".tsv" else None)
    else:
        raise UploadError(N_("Unsupported table type {suffix}: upload .csv, .tsv or .jsonl."),
                          suffix=suffix or "(none)")
    if frame.empty:
        raise UploadError(N_("The table has no rows."))
    frame.columns = [str(c) for c in frame.columns]
    return Table(frame, decoded.encoding)


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """The rows of a table upload (see load_table); raises UploadError."""
    return load_table(data, filename).frame


def guess_text_column(frame: pd.DataFrame) -> str | None:
    """The column most likely to hold the texts: a conventional name, else the longest strings."""
    lowered = {c.lower().strip(): c for c in frame.columns}
    for name in _TEXT_COLUMN_NAMES:
        if name in lowered:
            return lowered[name]
    textual = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).mean() > 0.9]
    if not textual:
        return None
    return max(textual, key=lambda c: frame[c].astype(str).str.len().mean())


def text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that hold text: most non-empty cells contain a letter (numbers and dates do not)."""
    found = []
    for column in frame.columns:
        cells = [str(v).strip() for v in frame[column] if not (v is None or (isinstance(v, float) and pd.isna(v)))]
        cells = [c for c in cells if c]
        if cells and sum(any(ch.isalpha() for ch in c) for c in cells) * 2 > len(cells):
            found.append(str(column))
    return found


def texts_from_column(frame: pd.DataFrame, column: str) -> list[str]:
    """Non-empty texts of one column, stripped; raises UploadError when the column is unusable."""
    if column not in frame.columns:
        raise UploadError(N_("There is no column {column}; columns are {columns}."),
                          column=repr(column), columns=", ".join(map(str, frame.columns)))
    cells = frame[column].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    values = [v.strip() for v in cells if v.strip()]
    if not values:
        raise UploadError(N_("Column {column} has no text."), column=repr(column))
    return values
