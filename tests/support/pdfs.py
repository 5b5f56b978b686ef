"""Small PDFs built in code for upload tests: text pages, and FlateDecode streams that inflate
far past their size (decompression bombs), so no binary file is committed."""

from __future__ import annotations

import io
import zlib


def pdf(contents: list[bytes], flate: bool = False) -> bytes:
    """A minimal PDF with one page per content stream (Helvetica as /F1); `flate`: the streams
    are given already zlib-compressed and marked /FlateDecode."""
    n = len(contents)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (4 + i) for i in range(n)), n),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 3 0 R >> >> >>" % (4 + n + i) for i in range(n)]
    for stream in contents:
        head = b"<< /Length %d%s >>" % (len(stream), b" /Filter /FlateDecode" if flate else b"")
        objects.append(head + b"\nstream\n" + stream + b"\nendstream")
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


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose content stream shows `text` in Helvetica."""
    return pdf([f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()])


def deflated(unit: bytes, total: int) -> bytes:
    """`unit` repeated to about `total` bytes, zlib-compressed piece by piece (never held whole)."""
    packer = zlib.compressobj(9)
    block = unit * max(1, 1_000_000 // len(unit))
    parts = [packer.compress(block) for _ in range(max(1, total // len(block)))]
    return b"".join([*parts, packer.flush()])
