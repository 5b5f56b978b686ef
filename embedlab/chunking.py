"""Chunkers that cut a document into character spans under a token budget.

Every chunker returns `Chunk(start, end, tokens)` spans over the text it was given, in order, so a
view can draw them on the original text (`text[start:end]` is the chunk).

What the numbers mean:
- `Chunk.tokens` is exact: `tokens.count_tokens(text[start:end])`, the tokens the model gets for
  that chunk's text (without its end-of-text token). No chunk has more than `max_tokens`.
- Cut positions are chosen on ONE tokenization of the whole document (`TokenIndex`), which is
  what makes chunking fast; a substring can tokenize slightly differently from the same stretch
  of the whole document (a word cut in two, a token straddling a cut), so every chunk is recounted
  once and shortened when the recount is over budget.
- `overlap` is counted in tokens of the whole document: the tokens both consecutive chunks hold.
  Fixed windows share exactly `overlap` of them (fewer only where a character is split over
  several byte tokens); recursive chunks share at most `overlap`, starting at a word boundary.

The document is tokenized once (about 30 ms for 50,000 tokens); the chunkers never re-tokenize
in nested loops: spans are counted from the index in O(log n) and each chunk is recounted once.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import importlib.resources
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embedlab import tokens
from embedlab.messages import N_, InputError
from embedlab.text import first_words

STRATEGIES = ("tokens", "recursive", "markdown")
# What every page calls each strategy (translated where drawn).
STRATEGY_LABELS = {
    "tokens": N_("Fixed token windows"),
    "recursive": N_("Recursive (paragraph → sentence → tokens)"),
    "markdown": N_("Markdown sections (recursive when too big)"),
}
MIN_MAX_TOKENS = 8  # one character can take up to 4 byte tokens; below this chunks could stall
CONTEXT_MARKS = (2_048, 8_192, 32_768)  # quality falls past 2K, ends fade past 8K, 32K is the limit

# Recursive separators, coarsest first: each match END is where a new piece may start.
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE = re.compile(r"\n\s*")
# Chinese sentence ends need no space after them; Latin ones need whitespace (keeps 3.14, a.b).
_SENTENCE = re.compile(r"[。！？；]+[」』”’）)]*\s*|[.!?]+[\"')\]”’]*\s+")
# Sentences before lines: hard-wrapped paragraphs break lines in mid-sentence.
_SEPARATORS = (_PARAGRAPH, _SENTENCE, _LINE)
# ATX headings; fenced code blocks are skipped so "# comment" lines in code are not headings.
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)
_NO_START = set(",;:.!?，。；：、！？)]}）》」』”’")  # an overlap does not begin with these


@dataclass(frozen=True)
class Chunk:
    """A chunk: `text[start:end]`, holding `tokens` tokens (exact count of that substring)."""

    start: int
    end: int
    tokens: int


def _segment_starts(text: str) -> list[int]:
    """Offsets where NFC cannot compose across: starters that are not Hangul vowels/finals."""
    return [i for i, c in enumerate(text) if unicodedata.combining(c) == 0 and not "\u1160" <= c <= "\u11ff"]


def _nfc_to_original(text: str, normalized: str) -> np.ndarray | None:
    """int64 (len(normalized) + 1,): original offset of each NFC offset, or None when identical.

    Offsets inside a composed sequence map to the sequence's start (like a token that starts
    inside a multi-byte character gets that character's offset).
    """
    if normalized == text:
        return None
    for bounds in (_segment_starts(text), [m.start() for m in re.finditer(r"\s", text)]):
        bounds = sorted({0, *bounds})
        pieces = [text[a:b] for a, b in zip(bounds, [*bounds[1:], len(text)], strict=True)]
        normed = [unicodedata.normalize("NFC", p) for p in pieces]
        if "".join(normed) == normalized:
            lengths = np.fromiter((len(p) for p in normed), dtype=np.int64, count=len(normed))
            mapping = np.repeat(np.asarray(bounds, dtype=np.int64), lengths)
            return np.concatenate((mapping, [len(text)]))
    # Never seen in practice: everything maps to 0, the exact recount still keeps chunks valid.
    return np.zeros(len(normalized) + 1, dtype=np.int64)


class TokenIndex:
    """A document tokenized once: where each token starts, to count any span in O(log n).

    Attributes:
        text: the document as given (offsets index it, even when it is not NFC-normalised).
        n_tokens: number of tokens in the whole document.
        starts: list of n_tokens ints, the character offset where each token starts
            (non-decreasing; tokens splitting one character share its offset).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        normalized = unicodedata.normalize("NFC", text)
        _, starts = tokens.token_offsets(normalized)
        mapping = _nfc_to_original(text, normalized)
        if mapping is not None:
            starts = mapping[starts]
        self.n_tokens = len(starts)
        self.starts: list[int] = starts.tolist()

    def first_token_at(self, pos: int) -> int:
        """Index of the first token starting at or after character `pos`."""
        return bisect.bisect_left(self.starts, pos)

    def char_of_token(self, k: int) -> int:
        """Character offset where token `k` starts (len(text) past the last token)."""
        return self.starts[k] if k < self.n_tokens else len(self.text)

    def count(self, start: int, end: int) -> int:
        """Tokens of the whole document that start inside text[start:end] (an estimate of the span)."""
        return self.first_token_at(end) - self.first_token_at(start)

    def exact(self, start: int, end: int) -> int:
        """Exact token count of the substring text[start:end] as the model would tokenize it."""
        return tokens.count_tokens(self.text[start:end])

    def marks(self, limits: tuple[int, ...] = CONTEXT_MARKS) -> dict[int, int]:
        """Character offset where token number `limit` starts, for each limit the text exceeds."""
        return {limit: self.starts[limit] for limit in limits if limit < self.n_tokens}


def _check(max_tokens: int, overlap: int) -> None:
    if max_tokens < MIN_MAX_TOKENS:
        raise InputError(N_("Chunk size must be at least {minimum} tokens (got {size})."),
                         minimum=MIN_MAX_TOKENS, size=max_tokens)
    if not 0 <= overlap <= max_tokens // 2:
        raise InputError(N_("Overlap must be between 0 and half the chunk size, {half} (got {overlap})."),
                         half=max_tokens // 2, overlap=overlap)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_word_char(c: str) -> bool:
    # Latin-like letters and digits; CJK characters are words on their own, so any cut is fine there.
    return c.isalnum() and c < "\u2e80"


def _previous_cut(index: TokenIndex, start: int, end: int) -> int:
    """The token start before `end` (at least one character before it), and after `start`."""
    k = index.first_token_at(end) - 1
    cut = index.char_of_token(k) if k >= 0 else start
    if cut >= end:
        cut = end - 1
    return max(cut, start + 1)


def _hard_split(index: TokenIndex, start: int, end: int, budget: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most `budget` exact tokens, at token starts,
    preferring the last space in the second half of a window so words stay whole."""
    text, pieces = index.text, []
    while start < end:
        cut = min(index.char_of_token(index.first_token_at(start) + budget), end)
        if cut < end:
            space = max(text.rfind(" ", start + (cut - start) // 2, cut), text.rfind("\n", start + (cut - start) // 2, cut))
            if space > start:
                cut = space + 1
        cut = max(cut, start + 1)
        while cut > start + 1 and index.exact(start, cut) > budget:
            cut = _previous_cut(index, start, cut)
        pieces.append((start, cut))
        start = cut
    return pieces


def _units(index: TokenIndex, start: int, end: int, budget: int, level: int = 0) -> list[tuple[int, int]]:
    """Paragraphs, else sentences, else lines, else token pieces: trimmed spans whose estimated
    size fits `budget`, in order, covering every non-whitespace character of text[start:end]."""
    start, end = _trim(index.text, start, end)
    if start >= end:
        return []
    if index.count(start, end) <= budget:
        return [(start, end)]
    if level == len(_SEPARATORS):
        return [p for s, e in _hard_split(index, start, end, budget) if (p := _trim(index.text, s, e))[0] < p[1]]
    cuts = [m.end() for m in _SEPARATORS[level].finditer(index.text, start, end) if start < m.end() < end]
    out: list[tuple[int, int]] = []
    for a, b in zip([start, *cuts], [*cuts, end], strict=True):
        out.extend(_units(index, a, b, budget, level + 1))
    return out


def _overlap_start(index: TokenIndex, prev: Chunk, overlap: int, limit: int) -> int:
    """Start of the tail of `prev` holding at most `overlap` document tokens, moved forward to a
    word start; `limit` (the next unit's start) when there is no such tail."""
    text = index.text
    k_end = index.first_token_at(prev.end)
    k = max(k_end - overlap, index.first_token_at(prev.start))
    pos = index.char_of_token(k)
    if 0 < k < index.n_tokens and index.starts[k - 1] == pos:
        # The token before starts in the same character: taking this character would share more.
        pos = index.char_of_token(bisect.bisect_right(index.starts, pos))
    sentence = _SENTENCE.search(text, pos, prev.end)
    if sentence and sentence.end() < prev.end:
        pos = sentence.end()  # share whole sentences when the tail holds a sentence start
    while pos < prev.end and pos > 0 and _is_word_char(text[pos - 1]) and _is_word_char(text[pos]):
        pos += 1
    while pos < prev.end and (text[pos].isspace() or text[pos] in _NO_START):
        pos += 1
    return pos if prev.start < pos < prev.end else limit


def _pack(index: TokenIndex, units: list[tuple[int, int]], max_tokens: int, overlap: int) -> list[Chunk]:
    """Greedily join consecutive units into chunks of at most `max_tokens` exact tokens, each
    starting with the tail (<= `overlap` tokens) of the chunk before it."""
    units = list(units)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        start = units[i][0]
        if overlap and chunks:
            start = _overlap_start(index, chunks[-1], overlap, start)
        j = i
        while j + 1 < len(units) and index.count(start, units[j + 1][1]) <= max_tokens:
            j += 1
        while (n := index.exact(start, units[j][1])) > max_tokens:
            if j > i:
                j -= 1
            elif start < units[i][0]:
                start = units[i][0]  # keep the chunk whole rather than its overlap
            else:
                # One unit over budget although its estimate fit: cut it at token starts.
                units[i : i + 1] = _hard_split(index, units[i][0], units[i][1], max_tokens - overlap)
                j = i
        chunks.append(Chunk(start, units[j][1], n))
        i = j + 1
    return chunks


def _index_for(text: str, index: TokenIndex | None) -> TokenIndex:
    if index is None:
        return TokenIndex(text)
    if index.text is not text and index.text != text:
        raise ValueError("the token index was built for another text")
    return index


def chunk_tokens(text: str, max_tokens: int = 512, overlap: int = 0, index: TokenIndex | None = None) -> list[Chunk]:
    """Fixed windows of `max_tokens` document tokens, each starting `overlap` tokens before the
    previous one ends (cuts fall anywhere, even inside words: that is what fixed windows do).

    Windows are not trimmed; windows holding only whitespace are dropped.
    """
    _check(max_tokens, overlap)
    index = _index_for(text, index)
    starts, n = index.starts, index.n_tokens
    chunks: list[Chunk] = []
    i = 0
    while i < n:
        start = starts[i]
        j = index.first_token_at(index.char_of_token(min(i + max_tokens, n)))
        if j <= i:  # every token of the window starts in one character: take that character
            j = bisect.bisect_right(starts, start)
        end = index.char_of_token(j)
        while (count := index.exact(start, end)) > max_tokens:
            shorter = index.first_token_at(starts[j - 1])
            shorter = shorter if shorter > i else bisect.bisect_right(starts, start)
            if shorter >= j:  # one character left: it fits, as max_tokens >= 8 > 4 bytes
                break
            j, end = shorter, index.char_of_token(shorter)
        if text[start:end].strip():
            chunks.append(Chunk(start, end, count))
        if j >= n:
            break
        nxt = j - overlap if j - overlap > i else j
        if nxt > 0 and starts[nxt - 1] == starts[nxt]:
            nxt = bisect.bisect_right(starts, starts[nxt])  # start at a whole character
        i = nxt if nxt > i else j
    return chunks


def chunk_recursive(
    text: str, max_tokens: int = 512, overlap: int = 0, index: TokenIndex | None = None
) -> list[Chunk]:
    """Paragraphs, split into sentences (。！？； and . ! ?), then lines, then token pieces until
    each piece fits, joined greedily into chunks of at most `max_tokens` tokens; with `overlap`,
    each chunk starts with up to `overlap` tokens from the end of the one before. Trimmed."""
    _check(max_tokens, overlap)
    index = _index_for(text, index)
    return _recursive_span(index, 0, len(text), max_tokens, overlap)


def _recursive_span(index: TokenIndex, start: int, end: int, max_tokens: int, overlap: int) -> list[Chunk]:
    return _pack(index, _units(index, start, end, max_tokens - overlap), max_tokens, overlap)


def markdown_sections(text: str) -> list[tuple[int, int]]:
    """(start, end) of each Markdown section: text before the first heading, then each ATX
    heading line with everything up to the next heading of any level (fenced code skipped)."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    in_code: list[tuple[int, int]] = []
    for a, b in zip(fences[::2], fences[1::2], strict=False):
        in_code.append((a, b))
    if len(fences) % 2:  # an unclosed fence runs to the end
        in_code.append((fences[-1], len(text)))
    heads = [m.start() for m in _HEADING.finditer(text) if not any(a < m.start() < b for a, b in in_code)]
    bounds = sorted({0, *heads})
    return list(zip(bounds, [*bounds[1:], len(text)], strict=True))


def chunk_markdown(
    text: str, max_tokens: int = 512, overlap: int = 0, index: TokenIndex | None = None
) -> list[Chunk]:
    """One chunk per Markdown heading section; sections over `max_tokens` are split by
    `chunk_recursive` (with `overlap` inside them; sections never overlap each other). Trimmed."""
    _check(max_tokens, overlap)
    index = _index_for(text, index)
    chunks: list[Chunk] = []
    for a, b in markdown_sections(text):
        start, end = _trim(text, a, b)
        if start >= end:
            continue
        if index.count(start, end) <= max_tokens + 8 and (n := index.exact(start, end)) <= max_tokens:
            chunks.append(Chunk(start, end, n))
        else:
            chunks.extend(_recursive_span(index, start, end, max_tokens, overlap))
    return chunks


_CHUNKERS = {"tokens": chunk_tokens, "recursive": chunk_recursive, "markdown": chunk_markdown}


def chunk_text(
    text: str, strategy: str = "recursive", max_tokens: int = 512, overlap: int = 0, index: TokenIndex | None = None
) -> list[Chunk]:
    """Chunks of `text` with one of STRATEGIES; see the module docstring for what counts mean.

    Raises:
        ValueError: unknown strategy, max_tokens < 8, or overlap outside 0..max_tokens // 2.
    """
    if strategy not in _CHUNKERS:
        raise InputError(N_("Unknown chunking strategy {strategy}; choose one of {strategies}."),
                         strategy=repr(strategy), strategies=", ".join(STRATEGIES))
    return _CHUNKERS[strategy](text, max_tokens, overlap, index)


def chunk_texts(text: str, chunks: Sequence[Chunk]) -> list[str]:
    """`text[c.start:c.end]` of each chunk, in order (what is embedded, and the hover previews)."""
    return [text[c.start : c.end] for c in chunks]


def chunk_rows(text: str, chunks: list[Chunk]) -> list[dict[str, object]]:
    """One row per chunk for the table: number (from 1), span, tokens, characters, first words."""
    return [
        {N_("chunk"): i + 1, N_("start"): c.start, N_("end"): c.end, N_("tokens"): c.tokens,
         N_("characters"): c.end - c.start, N_("first words"): first_words(text[c.start : c.end])}
        for i, c in enumerate(chunks)
    ]


POOLING = {
    "document": N_("Whole document (truncated)"),
    "mean": N_("Mean of chunk vectors"),
    "weighted": N_("Length-weighted mean"),
    "best": N_("Best chunk (max-sim)"),
}
WHOLE_DOCUMENT = N_("Whole document (first {n:,} tokens)")  # the "document" pooling, saying where it was cut


def pooled_scores(
    query: np.ndarray, document: np.ndarray, chunk_vectors: np.ndarray, chunk_tokens: list[int]
) -> dict[str, float]:
    """Four ways to score a long document against a query (keys as in POOLING).

    Args:
        query: (dim,) L2-normalised query vector.
        document: (dim,) L2-normalised vector of the whole document (truncated to the model limit).
        chunk_vectors: (n_chunks, dim) L2-normalised chunk vectors, n_chunks >= 1.
        chunk_tokens: (n_chunks,) token counts, the weights of the length-weighted mean.

    Returns:
        cosine similarity of the query with: the document vector, the re-normalised mean of the
        chunk vectors, the re-normalised token-weighted mean, and the best single chunk.
    """
    q = np.asarray(query, dtype=np.float32)
    vecs = np.asarray(chunk_vectors, dtype=np.float32)
    weights = np.asarray(chunk_tokens, dtype=np.float32)

    def cosine(v: np.ndarray) -> float:
        norm = float(np.linalg.norm(v))
        return float(q @ v / norm) if norm > 0 else 0.0

    return {
        "document": cosine(np.asarray(document, dtype=np.float32)),
        "mean": cosine(vecs.mean(axis=0)),
        "weighted": cosine((vecs * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1.0)),
        "best": float((vecs @ q).max()),
    }


def match_chunks(query: np.ndarray, chunk_vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Query-to-chunk cosine similarities (vectors are L2-normalised) and the best chunk's index.

    Args:
        query: (dim,) query vector.
        chunk_vectors: (n_chunks, dim), n_chunks >= 1.

    Returns:
        (similarities float32 (n_chunks,), argmax index).
    """
    sims = np.asarray(chunk_vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)
    return sims, int(np.argmax(sims))


def match_key(text: str, strategy: str, max_tokens: int, overlap: int, query: str, task: str,
              doc_limit: int) -> tuple[object, ...]:
    """What a match result depends on, to tell whether a shown result is still current.

    The document is named by its SHA-1 digest, so that the key stays small in session state.
    """
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return (digest, strategy, max_tokens, overlap, query, task, doc_limit)


@dataclass(frozen=True)
class ChunkMatch:
    """A query matched against every chunk of a document, and the whole document scored four ways.

    Attributes:
        key: the `match_key` of the inputs it was computed from.
        sims: (n_chunks,) cosine similarity of the query with each chunk, in document order.
        best: index of the most similar chunk.
        scores: cosine similarity of the query with the document, per pooling (keys as in POOLING).
        whole_tokens: tokens of the whole-document input (the document cut at the page's limit).
    """

    key: tuple[object, ...]
    sims: tuple[float, ...]
    best: int
    scores: dict[str, float]
    whole_tokens: int

    def labelled_scores(self, gettext: Callable[[str], str] = str) -> dict[str, float]:
        """`scores` keyed by readable labels in the language of `gettext` (the whole-document one
        says where it was cut), in POOLING order."""
        labels = {k: gettext(v) for k, v in POOLING.items()}
        labels["document"] = gettext(WHOLE_DOCUMENT).format(n=self.whole_tokens)
        return {labels[k]: self.scores[k] for k in POOLING}

    def pooling_rows(self, gettext: Callable[[str], str] = str) -> list[dict[str, object]]:
        """One table row per pooling: {"method": label, "similarity": rounded to 4 places}, the
        column names and labels in the language of `gettext`."""
        method, similarity = gettext(N_("method")), gettext(N_("similarity"))
        return [{method: label, similarity: round(v, 4)} for label, v in self.labelled_scores(gettext).items()]


def score_match(
    query: np.ndarray, document: np.ndarray, chunk_vectors: np.ndarray, chunks: Sequence[Chunk],
    whole_tokens: int, key: tuple[object, ...],
) -> ChunkMatch:
    """Match a query against a document's chunks and score the document as a whole.

    Args:
        query: (dim,) L2-normalised query vector (instruction applied).
        document: (dim,) L2-normalised vector of the whole document, cut to `whole_tokens` tokens.
        chunk_vectors: (n_chunks, dim) L2-normalised vectors of `chunks`, n_chunks >= 1.
        chunks: the chunks, whose token counts weight the length-weighted mean.
        whole_tokens: tokens of the whole-document input.
        key: `match_key` of the inputs.
    """
    sims, best = match_chunks(query, chunk_vectors)
    scores = pooled_scores(query, document, chunk_vectors, [c.tokens for c in chunks])
    return ChunkMatch(key, tuple(float(x) for x in sims), best, scores, whole_tokens)


# Long documents written for this project (fictional organisations), Markdown with headings.
SAMPLES = {
    N_("English: information security and workplace policy"): "policy_en.md",
    "中文：员工手册（节选）": "policy_zh.md",
}


@functools.cache  # package data never changes: read once per process, not on every rerun
def load_sample_document(title: str) -> str:
    """The text of a bundled sample document (a key of SAMPLES)."""
    return (importlib.resources.files("embedlab") / "data" / SAMPLES[title]).read_text(encoding="utf-8")
