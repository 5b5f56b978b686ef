"""Upload decoding: encodings, binaries, PDFs, CSV and JSONL."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.textio import (
    UploadError,
    decode_bytes,
    extract_text,
    guess_text_column,
    read_jsonl,
    read_table,
)

ZH = "员工每年享有十五天带薪年假，病假需提供医院证明。信息安全部负责渗透测试的审批流程。"
LATIN = "Café crème, naïve façade, Ærøskøbing - résumé of the oeuvre, señor Müller. " * 3


@pytest.mark.parametrize(
    ("data", "expected_encoding"),
    [
        (ZH.encode("utf-8"), "utf-8"),
        ("\ufeff".encode() + ZH.encode("utf-8"), "utf-8-sig"),
        (ZH.encode("utf-16"), "utf-16"),  # Python writes a BOM
        (ZH.encode("utf-16-be").join([b"\xfe\xff", b""]), "utf-16"),
        ((ZH * 4).encode("gb18030"), "gb18030"),
    ],
    ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom", "gb18030"],
)
def test_chinese_in_every_encoding(data, expected_encoding):
    decoded = decode_bytes(data)
    assert decoded.text.lstrip("\ufeff").startswith(ZH[:10])
    assert decoded.encoding == expected_encoding


def test_latin1_is_detected():
    decoded = decode_bytes(LATIN.encode("latin-1"))
    assert decoded.text == LATIN


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
        (b"PK\x03\x04" + bytes(50), "ZIP"),
        (b"abc\x00def" * 10, "NUL"),
        (b"%PDF-1.4 renamed", "PDF"),
    ],
)
def test_binary_and_empty_inputs_are_refused(data, message):
    with pytest.raises(UploadError, match=message):
        decode_bytes(data)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=64, max_size=2048))
def test_random_bytes_never_crash(data):
    try:
        decoded = decode_bytes(data)
    except UploadError:
        return
    assert isinstance(decoded.text, str)


def test_random_noise_is_refused():
    noise = random.Random(7).randbytes(4096)
    with pytest.raises(UploadError):
        decode_bytes(noise)


def _pdf_with_text(text: str) -> bytes:
    """A minimal one-page PDF whose content stream shows `text` in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_pdf_text_layer_is_read():
    decoded = extract_text(_pdf_with_text("Penetration test approval"), "policy.pdf")
    assert "Penetration test approval" in decoded.text and decoded.encoding == "pdf"


def test_image_only_pdf_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UploadError, match="no text layer"):
        extract_text(buffer.getvalue(), "scan.pdf")


def test_broken_pdf_is_refused():
    with pytest.raises(UploadError, match="PDF could not be read"):
        extract_text(b"%PDF-1.4\nthis is not really a pdf", "x.pdf")


def test_jsonl_reports_broken_line_number():
    data = b'{"id": "a", "text": "x"}\n\n{"id": "b", "text": \n{"id": "c"}\n'
    with pytest.raises(UploadError, match="Line 3"):
        read_jsonl(data)
    with pytest.raises(UploadError, match="Line 1 is a JSON list"):
        read_jsonl(b"[1, 2]\n")
    assert read_jsonl(b'{"a": 1}\n\n{"a": 2}\n') == [{"a": 1}, {"a": 2}]


def test_csv_and_column_guessing():
    frame = read_table("id,label,content\n1,hr,年假怎么申请\n2,it,VPN 连不上\n".encode("gb18030"), "x.csv")
    assert guess_text_column(frame) == "content"
    assert list(frame["content"]) == ["年假怎么申请", "VPN 连不上"]


def test_csv_without_conventional_name_picks_longest_strings():
    frame = read_table(b"k;sentence_body\n1;a fairly long sentence here\n2;another long sentence\n", "x.csv")
    assert guess_text_column(frame) == "sentence_body"


def test_jsonl_table_and_unsupported_type():
    frame = read_table(b'{"text": "a", "label": "x"}\n{"text": "b"}\n', "d.jsonl")
    assert list(frame["text"]) == ["a", "b"]
    assert frame["label"].tolist()[0] == "x"
    with pytest.raises(UploadError, match="Unsupported"):
        read_table(b"x", "d.xlsx")
    with pytest.raises(UploadError, match="no rows"):
        read_table(b"text\n", "d.csv")


def test_lone_surrogates_from_json_escapes_are_replaced():
    line = b'{"id": "d1", "text": "broken \\ud83d emoji", "tags": ["\\udc00"], "\\ud800key": 1}\n'
    [record] = read_jsonl(line)
    assert record == {"id": "d1", "text": "broken \ufffd emoji", "tags": ["\ufffd"], "\ufffdkey": 1}
    frame = read_table(b'[{"text": "a \\udfff b"}]', "x.json")
    assert frame["text"][0] == "a \ufffd b"
