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
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

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
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a ZIP archive (or a .docx/.xlsx file)",
    b"\x7fELF": "a program (ELF binary)",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Microsoft Office file",
}
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TEXT_COLUMN_NAMES = ("text", "content", "document", "doc", "body", "passage", "sentence", "query", "question")


class UploadError(ValueError):
    """An upload that cannot be used; the message is meant for the user."""


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
        raise UploadError("The file is empty.")
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise UploadError(f"This looks like {kind}, not text. Upload a .txt, .md, .pdf, .csv or .jsonl file.")
    if data.startswith(b"%PDF"):
        raise UploadError("This is a PDF file; upload it with a .pdf name so its text layer is read.")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), encoding)
            except UnicodeDecodeError as exc:
                raise UploadError(f"The file starts like {encoding} but is not valid {encoding} ({exc.reason}).") from None
    if b"\x00" in data[:8192]:
        raise UploadError("The file contains NUL bytes: it looks binary, not text.")
    try:
        return _checked(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None or best.encoding is None:
        raise UploadError(
            "The file's text encoding could not be recognised (is it binary?). Save it as UTF-8 and retry."
        )
    encoding = best.encoding
    # Single-byte Western text fits many code pages equally well; among equally good candidates
    # prefer Windows-1252 (a superset of Latin-1's printable range), by far the most common.
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    if encoding not in ("cp1252", "latin_1") and tied & {"cp1252", "latin_1"}:
        encoding = "cp1252" if "cp1252" in tied else "latin_1"
    # GBK/GB2312 guesses are decoded as GB18030, their superset, so no character is lost.
    if encoding.lower() in ("gbk", "gb2312", "cp936"):
        encoding = "gb18030"
    try:
        return _checked(data.decode(encoding), encoding)
    except (UnicodeDecodeError, LookupError):
        raise UploadError(f"The file looked like {encoding} but does not decode as it.") from None


def _checked(text: str, encoding: str) -> DecodedText:
    if _control_ratio(text) > 0.05:
        raise UploadError("The file is mostly control characters: it looks binary, not text.")
    return DecodedText(text=text, encoding=encoding)


def extract_pdf_text(data: bytes) -> DecodedText:
    """The text layer of a PDF, pages separated by blank lines.

    Raises:
        UploadError: unreadable or encrypted PDF, or one without a text layer (scanned images).
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UploadError("The PDF is password-protected; save an unprotected copy and retry.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UploadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UploadError(f"The PDF could not be read ({type(exc).__name__}: {str(exc)[:120]}).") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise UploadError(
            f"The PDF has {len(pages)} page(s) but no text layer (scanned images?). "
            "Run OCR on it first, or paste its text."
        )
    return DecodedText(text=text, encoding="pdf")


def extract_text(data: bytes, filename: str) -> DecodedText:
    """Text of an uploaded document: PDFs (by name or content) through pypdf, others decoded."""
    if PurePath(filename).suffix.lower() == ".pdf" or data.startswith(b"%PDF"):
        return extract_pdf_text(data)
    return decode_bytes(data)


def _without_surrogates(value: Any) -> Any:
    """JSON escapes can encode lone surrogates ("\\ud83d"), which no page can display or send:
    replace them, in keys and values at any depth, with U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def read_jsonl(data: bytes) -> list[dict]:
    """Parse JSON Lines: one object per non-blank line.

    Raises:
        UploadError: naming the first broken line (1-based).
    """
    text = decode_bytes(data).text
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = _without_surrogates(json.loads(line))
        except json.JSONDecodeError as exc:
            # Some messages end in "at" already ("Unterminated string starting at").
            where = f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else f"{exc.msg} at column {exc.colno}"
            raise UploadError(f"Line {number} is not valid JSON ({where}).") from None
        if not isinstance(value, dict):
            raise UploadError(f"Line {number} is a JSON {type(value).__name__}, expected an object {{...}}.")
        records.append(value)
    if not records:
        raise UploadError("The file holds no JSON objects.")
    return records


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """A CSV/TSV or JSONL (or JSON array) upload as a DataFrame of strings where textual.

    Raises:
        UploadError: unreadable file or no rows.
    """
    suffix = PurePath(filename).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        text = decode_bytes(data).text
        if suffix == ".json" and text.lstrip().startswith("["):
            try:
                value = _without_surrogates(json.loads(text))
            except json.JSONDecodeError as exc:
                raise UploadError(f"The JSON file is not valid ({exc.msg} at line {exc.lineno}).") from None
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise UploadError("A .json upload must be an array of objects or JSON Lines.")
            records = value
        else:
            records = read_jsonl(data)
        frame = pd.DataFrame.from_records(records)
    elif suffix in (".csv", ".tsv", ".txt"):
        text = decode_bytes(data).text
        try:
            frame = pd.read_csv(
                io.StringIO(text), sep="\t" if suffix == ".tsv" else None, engine="python", dtype=str,
                keep_default_na=False,
            )
        except (pd.errors.ParserError, ValueError, csv.Error) as exc:
            raise UploadError(f"The CSV file could not be parsed ({str(exc)[:200]}).") from None
    else:
        raise UploadError(f"Unsupported table type {suffix or '(none)'}: upload .csv, .tsv or .jsonl.")
    if frame.empty:
        raise UploadError("The table has no rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


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

