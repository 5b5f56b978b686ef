"""Scripted servers for the server check: a Qwen3-Embedding-0.6B look-alike with fault switches,
and a reranker that does (or does not) know the answers.

The embedding server is a real HTTP server on loopback speaking OpenAI's /v1/embeddings. Like a
correct Qwen3-Embedding-0.6B it returns 1024-d vectors that reproduce the model card's example
scores and the "hello world" components, honours `dimensions` by truncate-and-renormalise, is
batch-invariant, counts usage with the Qwen tokenizer + 1 end-of-text token, and refuses inputs
over 32,768 tokens with HTTP 400. Any other text gets a hashed bag of its Qwen tokens, so similar
texts have similar vectors; an instruction adds a component in its own band of dimensions.

Faults (one at a time): "ignores_dimensions", "truncates_512" (silently keeps the first 511 tokens +
the end-of-text token), "keeps_end_512" (silently keeps the last 511: left truncation),
"batch_pooling" (right-pads a batch and pools the padding too), "wrong_token_count" (counts words),
"different_model" (no reference vectors: another model behind the name). `context` sets the length
(end-of-text included) above which inputs are refused with HTTP 400.
"""

from __future__ import annotations

import re

import numpy as np

from embedlab.instructions import format_query
from embedlab.servercheck.reference import (
    HELLO_HEAD,
    HELLO_TEXT,
    REFERENCE_DOCUMENTS,
    REFERENCE_QUERIES,
    REFERENCE_TASK,
    VLLM_SCORES,
)
from embedlab.tokens import encode
from tests.support.jsonserver import JsonServer

FAULTS = ("ignores_dimensions", "truncates_512", "keeps_end_512", "batch_pooling", "wrong_token_count",
          "different_model")
MODEL = "Qwen/Qwen3-Embedding-0.6B"
DIM, CONTENT_DIMS = 1024, 896  # dimensions 896.. hold the instruction band
CONTEXT = 32_768
PAD = 151_643  # <|endoftext|>, also Qwen's padding token
_INSTRUCTED = re.compile(r"\AInstruct: (?P<task>.*?)\nQuery:(?P<query>.*)\Z", re.DOTALL)


def _reference_vectors() -> dict[str, np.ndarray]:
    """Texts of the model card's example -> vectors giving a correct vLLM's scores."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, 4)))
    scores = np.asarray(VLLM_SCORES)  # within 0.003 of the published ones
    q1, q2 = basis[:, 0], basis[:, 1]
    docs = []
    for j in range(2):
        a, b = scores[0, j], scores[1, j]
        docs.append(a * q1 + b * q2 + np.sqrt(1 - a * a - b * b) * basis[:, 2 + j])
    hello = rng.normal(size=DIM)
    head = np.asarray(HELLO_HEAD)
    hello[:5] = 0
    hello *= np.sqrt(1 - head @ head) / np.linalg.norm(hello)
    hello[:5] = head
    queries = [format_query(REFERENCE_TASK, q) for q in REFERENCE_QUERIES]
    texts = [*queries, *REFERENCE_DOCUMENTS, HELLO_TEXT]
    return dict(zip(texts, [q1, q2, *docs, hello], strict=True))


def _bag(ids: list[int], lo: int, hi: int) -> np.ndarray:
    """Hashed, signed bag of token ids in dimensions [lo, hi)."""
    out = np.zeros(DIM)
    ids_arr = np.asarray(ids, dtype=np.int64)
    slots = lo + (ids_arr * 2_654_435_761 % (hi - lo))
    signs = np.where((ids_arr * 40_503) % 7 < 4, 1.0, -1.0)
    np.add.at(out, slots, signs)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


class ScriptedQwenServer(JsonServer):
    """See the module docstring. `requests` records every request body."""

    def __init__(self, fault: str | None = None, context: int = CONTEXT) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.fault = fault
        self.context = context
        self.requests: list[dict] = []
        self.references = {} if fault == "different_model" else _reference_vectors()
        super().__init__(self._route)
        self.url += "/v1"

    def _route(self, method: str, path: str, body: dict, headers: dict) -> tuple[int, object]:
        if method == "GET" and path.rstrip("/") == "/v1/models":
            return 200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
        if method != "POST" or path != "/v1/embeddings":
            return 404, {"error": {"message": "not found"}}
        self.requests.append(body)
        return self.answer(body)

    # -- the model ------------------------------------------------------------------------------
    def vector(self, text: str) -> np.ndarray:
        """The full 1024-d unit vector of `text` as the correct model gives it."""
        if text in self.references:
            return self.references[text]
        match = _INSTRUCTED.match(text)
        if match:
            query = _unit(_bag(encode(match["query"]), 0, CONTENT_DIMS))
            return _unit(query + 0.3 * _unit(_bag(encode(match["task"]), CONTENT_DIMS, DIM)))
        return _unit(_bag(encode(text), 0, CONTENT_DIMS))

    def answer(self, body: dict) -> tuple[int, dict]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        original = [encode(t) for t in texts]
        for n in map(len, original):
            if n + 1 > self.context:
                return 400, {"error": {"message": f"This model's maximum context length is {self.context} tokens. "
                                                  f"However, your request has {n + 1} input tokens."}}
        if self.fault == "wrong_token_count":
            usage = sum(len(t.split()) for t in texts)
        else:
            usage = sum(len(i) + 1 for i in original)
        ids = original
        if self.fault == "truncates_512":
            ids = [i[:511] for i in ids]
        if self.fault == "keeps_end_512":
            ids = [i[-511:] for i in ids]
        if self.fault == "batch_pooling" and len(ids) > 1:
            longest = max(map(len, ids))
            ids = [i + [PAD] * (longest - len(i)) for i in ids]
        # A text that was cut or padded is embedded from what is left of it; others as they are.
        vectors = [self.vector(t) if i == o else _unit(_bag(i, 0, CONTENT_DIMS))
                   for t, i, o in zip(texts, ids, original, strict=True)]
        size = body.get("dimensions")
        if size and self.fault != "ignores_dimensions":
            if not 1 <= size <= DIM:
                return 400, {"error": {"message": f"dimensions must be between 1 and {DIM}"}}
            vectors = [_unit(v[:size]) for v in vectors]
        data = [{"object": "embedding", "index": k, "embedding": v.astype(np.float32).tolist()}
                for k, v in enumerate(vectors)]
        return 200, {"object": "list", "data": data, "model": MODEL,
                     "usage": {"prompt_tokens": usage, "total_tokens": usage}}


def bigram_overlap(query: str, document: str) -> float:
    """Share of the query's character bigrams found in the document (works for Chinese too)."""
    grams = {query[i:i + 2] for i in range(len(query) - 1)}
    return sum(g in document for g in grams) / max(len(grams), 1)


class ScriptedReranker(JsonServer):
    """A /v1/rerank server (vLLM/Jina shape). `knows_answers=False` scores in reverse, so the
    wrong passage comes first."""

    def __init__(self, knows_answers: bool = True) -> None:
        self.knows_answers = knows_answers
        self.requests: list[dict] = []
        super().__init__(self._answer)

    def _answer(self, method: str, path: str, body: dict, headers: dict) -> tuple[int, object]:
        self.requests.append(body)
        sign = 1.0 if self.knows_answers else -1.0
        scored = [(i, sign * bigram_overlap(body["query"], d)) for i, d in enumerate(body["documents"])]
        scored.sort(key=lambda x: -x[1])
        return 200, {"results": [{"index": i, "relevance_score": s} for i, s in scored]}
