"""Upload decoding: encodings, binaries, PDFs, CSV and JSONL."""

from __future__ import annotations

import io
import random
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.ingest import documents_from_file, read_files
from embedlab.textio import (
    MAX_JSON_DEPTH,
    UploadError,
    decode_bytes,
    extract_pdf_text,
    extract_text,
    guess_text_column,
    load_jsonl,
    load_table,
    read_jsonl,
    read_table,
)
from tests.support.pdfs import deflated, pdf, pdf_with_text

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


def test_pdf_text_layer_is_read():
    decoded = extract_text(pdf_with_text("Penetration test approval"), "policy.pdf")
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


# --- rows wider than the header --------------------------------------------------------------

WIDE_ROW = b"id,text\n1,hello world\n2,second row,extra,more\n3,third row\n"


@pytest.mark.parametrize("name", ["rows.csv", "rows.txt"])
def test_a_row_wider_than_the_header_is_refused_with_its_line(name):
    with pytest.raises(UploadError) as refused:
        read_table(WIDE_ROW, name)
    message = str(refused.value)
    assert message.startswith("Line 3 has 4 fields but the header has 2 (id, text)")
    assert "double quotes" in message


def test_search_ingests_nothing_from_a_table_with_a_wide_row():
    with pytest.raises(UploadError, match=r"^rows\.csv: Line 3 has 4 fields"):
        documents_from_file(WIDE_ROW, "rows.csv")


def test_wide_rows_are_counted_and_named_by_their_first_line():
    data = b'id,text\n1,"two\nlines"\n2,a,b\n3,c,d\n4,fine\n'
    with pytest.raises(UploadError, match=r"^Line 4 has 3 fields .* \(and 1 more row\(s\) like it\)"):
        read_table(data, "x.csv")


def test_every_row_is_kept_whole():
    data = b'id,text,label\n1,"hello, world",a\n2,trailing delimiter,b,\n3,no label\n\n4,"multi\nline",c\n'
    frame = read_table(data, "x.csv")
    assert frame.to_dict("records") == [
        {"id": "1", "text": "hello, world", "label": "a"},
        {"id": "2", "text": "trailing delimiter", "label": "b"},
        {"id": "3", "text": "no label", "label": ""},
        {"id": "4", "text": "multi\nline", "label": "c"},
    ]


def test_the_delimiter_is_one_of_comma_semicolon_tab_or_bar():
    # A lone header word is not split on one of its letters (it was: "text" gave a column "ex").
    assert list(read_table(b"text\nhello there\nsecond one\n", "x.csv")["text"]) == ["hello there", "second one"]
    assert list(read_table(b"k|body\n1|a, b\n", "x.csv").columns) == ["k", "body"]
    assert read_table(b"k\tbody\n1\ta; b\n", "x.tsv")["body"][0] == "a; b"
    assert list(read_table(b"a,a,\n1,2,3\n", "x.csv").columns) == ["a", "a.1", "Unnamed: 2"]


# --- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"[" * 100_000, "deep.jsonl", "Line 1 nests lists or objects more than"),
        (b'{"text": "ok"}\n' + b"[" * 100_000 + b"\n", "deep.jsonl", "Line 2 nests"),
        (b"[" * 100_000, "deep.json", "The JSON file nests"),
        (b'{"text": "x", "meta": ' + b"[" * 70 + b"]" * 70 + b"}\n", "deep.jsonl", "Line 1 nests"),
    ],
)
def test_deeply_nested_json_is_refused(data, name, message):
    with pytest.raises(UploadError, match=re.escape(message)):
        read_table(data, name)


def test_json_within_the_nesting_bound_is_read():
    inner = MAX_JSON_DEPTH - 2  # the record itself is one level, its "meta" list another
    [record] = read_jsonl(b'{"text": "x", "meta": ' + b"[" * inner + b"]" * inner + b"}\n")
    assert record["text"] == "x"


# --- encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["你好世界", "你好", "员工年假规定"])
def test_short_gbk_text_is_read_as_chinese(text):
    decoded = decode_bytes(text.encode("gbk"))
    assert (decoded.text, decoded.encoding) == (text, "gb18030")


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [("안녕하세요. 오늘은 날씨가 좋습니다.", "euc_kr", "cp949"), ("こんにちは。今日は良い天気です。", "shift_jis", "cp932"),
     ("你好世界", "big5", "big5")],
)
def test_other_east_asian_encodings_are_still_recognised(text, codec, expected):
    decoded = decode_bytes(text.encode(codec))
    assert (decoded.text, decoded.encoding) == (text, expected)


def test_every_upload_reader_says_which_encoding_it_used():
    gbk = "id,text\n1,你好世界\n".encode("gbk")
    assert load_table(gbk, "x.csv").encoding == "gb18030"
    assert load_jsonl('{"text": "你好世界"}\n'.encode("utf-16")).encoding == "utf-16"
    contents = documents_from_file("你好世界".encode("gbk"), "hello.txt")
    assert contents.encoding == "gb18030" and contents.documents[0].text == "你好世界"
    assert documents_from_file(pdf_with_text("Hello"), "a.pdf").encoding == "pdf"



def test_several_uploads_are_read_in_order_with_one_row_per_file():
    export = '{"id": "a1", "text": "exported chunk", "metadata": {"source": "old.txt"}}\n'
    documents, records, read_as = read_files([("hello.txt", "你好世界".encode("gbk")),
                                              ("rows.csv", b"id,text\n1,first row\n2,second row\n"),
                                              ("export.jsonl", export.encode())])
    assert [d.text for d in documents] == ["你好世界", "first row", "second row"]
    assert [(r.id, r.text) for r in records] == [("a1", "exported chunk")]
    assert read_as == [{"file": "hello.txt", "read as": "gb18030", "documents": 1},
                       {"file": "rows.csv", "read as": "utf-8", "documents": 2},
                       {"file": "export.jsonl", "read as": "utf-8", "documents": 1}]
    with pytest.raises(UploadError, match="^empty.txt: "):
        read_files([("hello.txt", b"fine"), ("empty.txt", b"")])

# --- PDF bounds ---------------------------------------------------------------------------------


def test_a_pdf_decompression_bomb_is_refused_quickly():
    bomb = pdf([deflated(b" ", 80_000_000)], flate=True)  # about 80 kB inflating to 80 MB
    assert len(bomb) < 200_000
    started = time.monotonic()
    with pytest.raises(UploadError, match="would expand past what the reader allows"):
        extract_text(bomb, "bomb.pdf")
    assert time.monotonic() - started < 5


def test_pdf_pages_characters_and_time_are_bounded():
    page = b"BT /F1 12 Tf 72 720 Td (" + b"A" * 500 + b") Tj ET"
    three = pdf([page] * 3)
    assert len(extract_pdf_text(three).text) == 3 * 500 + 2 * 2
    with pytest.raises(UploadError, match="has 3 pages; at most 2 are read"):
        extract_pdf_text(three, max_pages=2)
    with pytest.raises(UploadError, match=r"more than 1,200 characters of text \(reached on page 3 of 3\)"):
        extract_pdf_text(three, max_chars=1_200)
    # A page that takes about 0.6 s to read (2 MB of text operators) is stopped part-way through.
    # The work is compared in this process's CPU time: wall time also counts other processes.
    slow = pdf([deflated(b"BT /F1 12 Tf (" + b"A" * 2000 + b") Tj ET\n", 2_000_000)], flate=True)
    started = time.process_time()
    assert len(extract_pdf_text(slow).text) > 1_900_000
    whole = time.process_time() - started
    started = time.process_time()
    with pytest.raises(UploadError, match=r"took longer than 0.2 s and was stopped at page 1 of 1"):
        extract_pdf_text(slow, max_seconds=0.2)
    assert time.process_time() - started < whole * 0.75
