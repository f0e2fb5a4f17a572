"""What a document is (recognised by its bytes, never by its name) and its text, page by page.

Pure functions: no database, no event loop. PDF parsing is CPU work; callers run
`extract_pages` in a thread.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from dataclasses import dataclass
from typing import Final, Literal

from pypdf import PdfReader
from pypdf.errors import PyPdfError

log = logging.getLogger("starguide.library")

ContentType = Literal["application/pdf", "text/markdown", "text/plain"]
CONTENT_TYPES: Final[tuple[ContentType, ...]] = ("application/pdf", "text/markdown", "text/plain")

_PDF_MAGIC = b"%PDF-"
# Enough of a text file to tell Markdown from plain text.
_SNIFF_CHARS = 65_536
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")
# Line-level markers only Markdown writers use: headings, fences, lists, quotes, links, emphasis.
_MARKDOWN_MARKERS = re.compile(
    r"^(#{1,6}\s+\S|```|~~~|>\s|[-*+]\s+\S|\d+\.\s+\S|\|.+\|\s*$)"
    r"|\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*|__[^_\n]+__",
    re.MULTILINE,
)


class UnreadableDocument(Exception):
    """The document cannot be read (a broken or encrypted PDF): processing fails for good,
    a retry would fail the same way."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TextSniffer:
    """Fed the upload chunk by chunk: is it valid UTF-8 without NUL bytes, and its first
    characters (to tell Markdown from plain text). One pass, constant memory."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.is_text = True
        self.head = ""

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        if not self.is_text:
            return
        if b"\x00" in chunk:
            self.is_text = False
            return
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.is_text = False
            return
        if len(self.head) < _SNIFF_CHARS:
            self.head += text[: _SNIFF_CHARS - len(self.head)]


def content_type_of(head: bytes, sniffer: TextSniffer, filename: str) -> ContentType | None:
    """PDF by its magic number, text by being valid UTF-8 without NUL bytes; Markdown is text
    with Markdown markers or a Markdown file name. None: a format we do not take."""
    if head.startswith(_PDF_MAGIC):
        return "application/pdf"
    if not sniffer.is_text:
        return None
    if filename.lower().endswith(_MARKDOWN_NAMES) or _MARKDOWN_MARKERS.search(sniffer.head):
        return "text/markdown"
    return "text/plain"


def extract_pages(data: bytes, content_type: str) -> list[str]:
    """The text of each page: a PDF's pages, or a text file as one page (cut by position)."""
    if content_type != "application/pdf":
        return [data.decode("utf-8-sig")]
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableDocument(
                "unreadable_document", "The PDF is encrypted; upload a copy without a password."
            )
        return [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # pypdf raises many kinds on a damaged file; the cause goes to the log, not the user.
        log.info("unreadable PDF", extra={"error": type(exc).__name__})
        raise UnreadableDocument(
            "unreadable_document", "The PDF is damaged and its text cannot be read."
        ) from exc
    except RecursionError as exc:  # a crafted object tree
        raise UnreadableDocument(
            "unreadable_document", "The PDF is damaged and its text cannot be read."
        ) from exc


@dataclass(frozen=True)
class TextChunk:
    page: int  # from 1
    position: int  # from 0, in document order
    text: str


_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _normalise(text: str) -> str:
    text = _SPACES.sub(" ", text.replace("\u00ad", ""))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _windows(text: str, size: int, overlap: int) -> list[str]:
    """Cut `text` into pieces of about `size` characters, ending at a paragraph, sentence or
    word boundary where one is near, each starting `overlap` characters before the last
    ended (a fact split by a cut is whole in one of the two)."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            window = text[start:end]
            floor = int(size * 0.6)
            for mark in ("\n\n", ". ", "? ", "! ", "\n", " "):
                cut = window.rfind(mark, floor)
                if cut != -1:
                    end = start + cut + len(mark)
                    break
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        # Start the overlap at a word, not mid-word.
        space = text.find(" ", next_start, end)
        start = space + 1 if space != -1 else next_start
    return pieces


def chunk_pages(
    pages: list[str], *, paged: bool, size: int = 1000, overlap: int = 150
) -> list[TextChunk]:
    """Page-aware chunks: a PDF's chunk never spans two pages (a citation names one page);
    a text file's chunks are numbered by position (`page` = position + 1)."""
    chunks: list[TextChunk] = []
    for number, raw in enumerate(pages, start=1):
        for piece in _windows(_normalise(raw), size, overlap):
            position = len(chunks)
            chunks.append(
                TextChunk(page=number if paged else position + 1, position=position, text=piece)
            )
    return chunks
