"""Documents for the library tests: hand-built PDFs with real text streams, and uploads."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from pypdf import PdfWriter

from tests.conftest import Api

BASE = "/api/v1"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal, valid PDF: one page per item, each line drawn with Helvetica (pypdf's
    writer cannot lay out text, and reportlab is not a dependency)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 750 Td"]
        for line in lines:
            ops.append(f"({_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.encrypt("secret-password")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    """A valid PDF with no text layer (what a scan without OCR looks like to us)."""
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated_pdf() -> bytes:
    """A real PDF cut off halfway (an interrupted download)."""
    whole = make_pdf([["Some text on a page that will be cut off."]] * 3)
    return whole[: len(whole) // 2]


async def upload(
    api: Api,
    who: dict[str, Any],
    data: bytes,
    filename: str = "notes.pdf",
    **form: str,
) -> Any:
    return await api.client.post(
        f"{BASE}/documents",
        files={"file": (filename, data, "application/octet-stream")},
        data=form,
        headers=who["auth"],
    )


async def wait_processed(
    api: Api, who: dict[str, Any], document_id: str, timeout: float = 30
) -> dict[str, Any]:
    """The document once it is `ready` or `failed`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await api.client.get(f"{BASE}/documents/{document_id}", headers=who["auth"])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("ready", "failed"):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def search(api: Api, who: dict[str, Any], q: str, limit: int = 5) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"{BASE}/documents/search", params={"q": q, "limit": limit}, headers=who["auth"]
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
