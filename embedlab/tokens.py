"""The exact Qwen2/Qwen3 tokenizer, offline.

The vocabulary is the 151,643-token byte-level BPE shared by Qwen, Qwen2 and Qwen3, shipped as
`qwen.tiktoken` inside the `dashscope` package (Alibaba's own SDK); tiktoken runs it. Qwen2/3's
tokenizer applies NFC normalisation and the pre-tokenisation pattern below.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import unicodedata
from pathlib import Path

import numpy as np

from embedlab.config import server_root

VOCAB_SIZE = 151_643
# Qwen2/Qwen3 pre-tokeniser: single digits, letters with one leading non-letter, punctuation runs.
_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# tiktoken's Rust BPE recurses per pre-token; split huge inputs to keep its stack bounded.
_MAX_PIECE_CHARS = 100_000


@functools.lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    # Located without importing the dashscope SDK: its ~50,000 objects would be scanned by every
    # garbage collection Streamlit runs after each script run.
    spec = importlib.util.find_spec("dashscope")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dashscope package (which ships qwen.tiktoken) is not installed")
    vocab = Path(spec.submodule_search_locations[0]) / "resources" / "qwen.tiktoken"
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in vocab.read_bytes().splitlines() if line)
    }
    if len(ranks) != VOCAB_SIZE:
        raise RuntimeError(f"unexpected Qwen vocabulary size {len(ranks)}")
    return tiktoken.Encoding("qwen2", pat_str=_PATTERN, mergeable_ranks=ranks, special_tokens={})


def _pieces(text: str) -> list[str]:
    if len(text) <= _MAX_PIECE_CHARS:
        return [text]
    # Cut at whitespace so that no pre-token is split (only runs of spaces could be).
    pieces, start = [], 0
    while start < len(text):
        end = min(start + _MAX_PIECE_CHARS, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start:
                end = cut
        pieces.append(text[start:end])
        start = end
    return pieces


def encode(text: str) -> list[int]:
    """Token ids exactly as the Qwen3-Embedding tokenizer produces them (no special tokens)."""
    normalized = unicodedata.normalize("NFC", text)
    enc = _encoding()
    ids: list[int] = []
    for piece in _pieces(normalized):
        ids.extend(enc.encode_ordinary(piece))
    return ids


def count_tokens(text: str) -> int:
    """Number of tokens in `text` (the model adds one end-of-text token when embedding)."""
    return len(encode(text))


def decode(ids: list[int]) -> str:
    return _encoding().decode(ids)


def token_bytes(ids: list[int]) -> list[bytes]:
    """The raw bytes of each token (a token may hold part of a multi-byte character)."""
    return _encoding().decode_tokens_bytes(ids)


def token_offsets(text: str) -> tuple[list[int], np.ndarray]:
    """Tokens of `text` with the character offset where each starts.

    Offsets index the NFC-normalised text, which equals `text` for almost all real input
    (check with `unicodedata.is_normalized("NFC", text)`). A token that starts inside a
    multi-byte character is given that character's offset.

    Returns:
        (ids, starts): ids as from encode(); starts is int64 of shape (len(ids),).
    """
    normalized = unicodedata.normalize("NFC", text)
    ids = encode(normalized)
    lengths = np.fromiter((len(b) for b in token_bytes(ids)), dtype=np.int64, count=len(ids))
    byte_starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(ids) else np.zeros(0, np.int64)
    # Map byte offsets to character offsets through each character's UTF-8 width.
    raw = normalized.encode("utf-8")
    is_lead = (np.frombuffer(raw, dtype=np.uint8) & 0xC0) != 0x80
    char_of_byte = np.cumsum(is_lead) - 1
    starts = char_of_byte[byte_starts] if len(ids) else byte_starts
    return ids, starts.astype(np.int64)


def truncate(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` (NFC) holding at most `max_tokens` tokens."""
    ids, starts = token_offsets(text)
    normalized = unicodedata.normalize("NFC", text)
    if len(ids) <= max_tokens:
        return normalized
    return normalized[: int(starts[max_tokens])]


def _tokenize_urls(base_url: str) -> list[str]:
    """Where servers offer tokenizing: sglang at /v1/tokenize (also /tokenize), vLLM at /tokenize."""
    root = server_root(base_url)
    return list(dict.fromkeys([f"{root}/v1/tokenize", f"{root}/tokenize"]))


def server_token_count(
    base_url: str, model: str, text: str, api_key: str | None = None, timeout_s: float = 5.0
) -> int | None:
    """The embedding server's own token count of `text`, or None when it has no tokenize endpoint.

    Tries POST {"model", "prompt", "add_special_tokens": false} on /v1/tokenize (sglang) and
    /tokenize (vLLM); both answer {"tokens": [...], "count": n, ...}. Any failure (404, refused
    connection, timeout, unexpected body) means "not offered" rather than an error.
    """
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {"model": model, "prompt": text, "add_special_tokens": False}
    for url in _tokenize_urls(base_url):
        try:
            resp = httpx.post(url, json=body, headers=headers, timeout=timeout_s)
            if resp.status_code != 200:
                continue
            data = resp.json()
        except (httpx.HTTPError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        count = data.get("count")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        if isinstance(data.get("tokens"), list):
            return len(data["tokens"])
    return None
