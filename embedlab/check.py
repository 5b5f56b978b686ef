"""Server check: does the configured server really serve Qwen3-Embedding correctly?

A server can answer every request and still return wrong vectors (wrong pooling, no end-of-text
token, padding bugs, silent truncation, `dimensions` ignored, another model behind the name).
Each check below measures one of these properties against the server itself (never through the
embedding cache) and reports pass / warn / fail with its evidence:

    server       connection, served model list, latency of one request (always runs first)
    identity     the model card's 2x2 example and the "hello world" vector of Qwen3-Embedding-0.6B
    batch        a short text alone vs in a batch with a much longer one (padding / pooling bugs)
    truncation   growing prefixes of a long text: where the vector stops changing or is refused
    matryoshka   whether `dimensions` is honoured, and as truncate-and-renormalise
    instruction  the instruction template reaches the model and does not hurt retrieval
    tokens       the server's usage.prompt_tokens vs the exact Qwen tokenizer count
    rerank       known-answer cases for the reranker (when one is configured)

Only the batch check sends more than one text per request, so a batching bug shows up in that
check alone. `run_checks` runs them in order, reports progress, and skips the rest when the
server cannot be reached. No check raises: backend errors become a fail with a message a user
can act on. The API key is never stored in a Report.

    python -m embedlab.check [--base-url URL --model M] [--only identity,batch] --format json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from embedlab import tokens
from embedlab.backends import (
    BadResponse,
    EmbeddingError,
    InputRejected,
    ServerTimeout,
    ServerUnreachable,
    body_text,
    clean_text,
    normalize_rows,
    root_cause,
)
from embedlab.config import api_root, public_url
from embedlab.instructions import DEFAULT_TASK, format_query

Status = Literal["pass", "warn", "fail", "skip"]
ProgressCallback = Callable[[int, int, str], None]
"""Called as progress(done, total, title): before each check with the title of the check about to
run (done = checks finished so far), and once at the end as progress(total, total, "")."""

# Ids and titles in run order. "server" always runs first: it is the connection test.
CHECKS: dict[str, str] = {
    "server": "Connection, served models and latency",
    "identity": "Identity against the published reference",
    "batch": "Batch invariance (padding / pooling)",
    "truncation": "Truncation probe (effective context)",
    "matryoshka": "Matryoshka dimensions",
    "instruction": "Instruction effect",
    "tokens": "Token count agreement",
    "rerank": "Reranker sanity",
}

MODEL_CONTEXT = 32_768  # tokens Qwen3-Embedding accepts, the end-of-text token included
FULL_DIM = 1024  # Qwen3-Embedding-0.6B
OTHER_SIZES = {2560: "Qwen3-Embedding-4B", 4096: "Qwen3-Embedding-8B"}

# The model card's example (Qwen/Qwen3-Embedding-0.6B): instructed queries, plain documents.
REFERENCE_TASK = DEFAULT_TASK
REFERENCE_QUERIES = ("What is the capital of China?", "Explain gravity")
REFERENCE_DOCUMENTS = (
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical "
    "objects and is responsible for the movement of planets around the sun.",
)
REFERENCE_SCORES = ((0.7646, 0.1414), (0.1355, 0.6000))  # published: queries x documents
VLLM_SCORES = ((0.7620, 0.1408), (0.1358, 0.6014))  # a correct vLLM, for scale
SCORE_ATOL = 0.01  # a correct server differs from the card by < 0.003; another model by far more
HELLO_TEXT = "hello world"
HELLO_HEAD = (-0.02225659, 0.01872586, -0.01449341, -0.08536665, 0.01223033)  # normalised, 1024-d
HELLO_ATOL = 1e-3

DEFAULT_TIMEOUT_S = 30.0  # per request
DEFAULT_PROBE_BUDGET_S = 20.0  # the truncation probe's share of a run (about 25 s on the CPU stand-in)
BATCH_MIN_COS = 0.9999
SAME_FLOOR = 1e-5  # 1 - cos below this (or 10x the measured noise) counts as "the same vector"
INSTRUCTION_MAX_COS = 0.9999  # instructed and plain query vectors must differ by more than this
INSTRUCTION_TOLERANCE = 0.01  # an nDCG@10 drop larger than this is reported as a warning
INSTRUCTION_SET = "Engineering handbook (English / mixed)"
# (query, passages, index of the right passage); the right one is never listed first.
RERANK_CASES = (
    ("中国的首都是哪里?",
     ("南京是江苏省的省会，曾是六朝古都。", "北京是中国的首都，也是全国的政治和文化中心。",
      "东京是日本的首都，也是日本最大的城市。"), 1),
    ("What is the capital of China?",
     (REFERENCE_DOCUMENTS[1], "The capital of Japan is Tokyo.", "The capital of China is Beijing."), 2),
)
TOKEN_SAMPLES = (
    HELLO_TEXT,
    REFERENCE_QUERIES[0],
    "中国的首都是哪里？北京是中国的首都。",
    REFERENCE_DOCUMENTS[1],
    "Release 4.2 ships on 2025-03-14: run `make migrate` first, then restart the workers (约 5 分钟).",
)

_IDENTITY_HINT = (
    "Check which model the server loaded (its launch command and GET /v1/models). If it is "
    "Qwen3-Embedding-0.6B, the server computes the vector differently from the reference: it must "
    "append the end-of-text token, pool the last token (left padding) and L2-normalise. Update the "
    "server to a release that supports Qwen3-Embedding and compare again."
)


# --- results ------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """The outcome of one check.

    verdict: one plain-English line; action: what to do when the status is not "pass";
    evidence: JSON-serialisable measurements (matrices as nested lists, cosines, token counts).
    """

    id: str
    title: str
    status: Status
    verdict: str
    action: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """Every check run against one server. `base_url` is stored without credentials."""

    base_url: str
    model: str
    started_at: str  # ISO 8601, UTC
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    rerank_base_url: str | None = None
    rerank_model: str | None = None

    def result(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.id == check_id), None)

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("pass", "warn", "fail", "skip"), 0)
        for r in self.results:
            out[r.status] += 1
        return out

    @property
    def reachable(self) -> bool:
        """False when the connection check failed (then no other check ran)."""
        server = self.result("server")
        return server is None or server.status != "fail"

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.results)

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per check for a table: status, title, verdict, seconds."""
        return [{"status": r.status, "check": r.title, "verdict": r.verdict, "seconds": round(r.seconds, 2),
                 "id": r.id} for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "embedlab.check",
            "base_url": self.base_url,
            "model": self.model,
            "rerank_base_url": self.rerank_base_url,
            "rerank_model": self.rerank_model,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "counts": self.counts,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(_jsonable(self.to_dict()), ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        """A report to paste into a ticket: summary table, then each check with its evidence."""
        c = self.counts
        lines = [
            "# Server check: Qwen3-Embedding",
            "",
            f"- Server: `{self.base_url}`, model `{self.model}`",
            f"- Reranker: `{self.rerank_base_url}`, model `{self.rerank_model or 'default'}`"
            if self.rerank_base_url else "- Reranker: not configured",
            f"- Started {self.started_at}, took {self.seconds:.1f} s",
            f"- Result: {c['fail']} fail, {c['warn']} warn, {c['pass']} pass, {c['skip']} skipped",
            "",
            "| # | check | status | verdict | time |",
            "|---|---|---|---|---|",
        ]
        for i, r in enumerate(self.results, start=1):
            lines.append(f"| {i} | {_md_cell(r.title)} | **{r.status.upper()}** | {_md_cell(r.verdict)} | "
                         f"{r.seconds:.1f} s |")
        for r in self.results:
            lines += ["", f"## {r.title}: {r.status.upper()}", "", _md_cell(r.verdict)]
            if r.action and r.status != "pass":
                lines += ["", f"**What to do:** {_md_cell(r.action)}"]
            lines += _evidence_markdown(r)
        return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, floats rounded to 6 decimals."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            return None
        # Six decimals, but small values (noise, 1 - cos) keep six significant digits.
        return float(f"{f:.6g}") if abs(f) < 0.01 else round(f, 6)
    return value


def _md_cell(text: str) -> str:
    # Server-supplied text must not become links, HTML or extra table columns.
    out = " ".join(str(text).split())
    for ch in "\\|<>[]`":
        out = out.replace(ch, "\\" + ch)
    return out


def identity_rows(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The identity check's scores beside the published ones: one row per (query, document)."""
    measured = evidence.get("measured")
    if not measured:
        return []
    return [
        {"query": q, "document": d, "measured": measured[i][j], "published": REFERENCE_SCORES[i][j],
         "difference": measured[i][j] - REFERENCE_SCORES[i][j], "correct vLLM": VLLM_SCORES[i][j]}
        for i, q in enumerate(REFERENCE_QUERIES) for j, d in enumerate(REFERENCE_DOCUMENTS)
    ]


def _evidence_markdown(r: CheckResult) -> list[str]:
    ev = r.evidence
    lines: list[str] = []
    if r.id == "identity" and (rows := identity_rows(ev)):
        lines += ["", "| query · document | measured | published | difference |", "|---|---|---|---|"]
        for row in rows:
            lines.append(f"| {_md_cell(row['query'])} · {_md_cell(row['document'][:40])} | {row['measured']:.4f} | "
                         f"{row['published']:.4f} | {row['difference']:+.4f} |")
        if ev.get("hello_head"):
            got = ", ".join(f"{v:.5f}" for v in ev["hello_head"])
            ref = ", ".join(f"{v:.5f}" for v in HELLO_HEAD)
            lines += ["", f"\"hello world\", first five components: measured [{got}], published [{ref}]"]
    if r.id == "truncation" and ev.get("probes"):
        lines += ["", "| tokens sent | answer | 1 − cos vs previous length | seconds |", "|---|---|---|---|"]
        for p in ev["probes"]:
            delta = "" if p.get("change") is None else f"{p['change']:.2e}"
            lines.append(f"| {p['tokens']:,} | {p['answer']} | {delta} | {p['seconds']:.2f} |")
    if ev:
        lines += ["", "<details><summary>Evidence (JSON)</summary>", "", "```json",
                  json.dumps(_jsonable(ev), ensure_ascii=False, indent=1), "```", "", "</details>"]
    return lines


# --- the raw client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One embeddings response as the server sent it."""

    vectors: np.ndarray  # float32 (n_texts, dim), NOT re-normalised: the check looks at norms
    prompt_tokens: int | None  # usage.prompt_tokens, None when the server does not report it
    model: str | None  # the "model" field of the response
    seconds: float


class CheckClient:
    """A small raw client for the checks: official openai client, float encoding, bounded timeout.

    Retries once, and only transient failures (connection refused/reset, 408/429/5xx); a timeout
    is not retried. Nothing is cached: every call is a request to the server.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 connect_timeout_s: float = 3.0) -> None:
        import httpx
        import openai

        self.base_url = public_url(base_url.rstrip("/"))  # for messages only
        self.model = model
        self.timeout_s = timeout_s
        self._client = openai.OpenAI(
            base_url=api_root(base_url),
            api_key=api_key or "not-needed",
            max_retries=0,
            timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
        )
        self._lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        self._client.close()

    def served_models(self) -> list[str] | None:
        """Ids from GET /v1/models, or None when the server does not offer the list."""
        try:
            return [m.id for m in self._client.models.list(timeout=min(5.0, self.timeout_s))]
        except Exception:  # noqa: BLE001 - the list is optional (some proxies and TEI builds lack it)
            return None

    def embed(self, texts: Sequence[str], dimensions: int | None = None, timeout_s: float | None = None) -> Answer:
        """One request with all `texts`; raises the backends' EmbeddingError family."""
        import openai

        batch = [clean_text(t) for t in texts]
        extra = {"dimensions": dimensions} if dimensions else {}
        last: EmbeddingError | None = None
        for attempt in range(2):
            with self._lock:
                self.requests_sent += 1
            start = time.perf_counter()
            try:
                response = self._client.embeddings.with_raw_response.create(
                    model=self.model, input=batch, encoding_format="float",
                    timeout=timeout_s or self.timeout_s, **extra,
                )
                seconds = time.perf_counter() - start
                return self._parse(response.http_response.content, len(batch), seconds)
            except openai.APITimeoutError:
                raise ServerTimeout(
                    f"The server at {self.base_url} did not answer within {timeout_s or self.timeout_s:.0f} s."
                ) from None
            except openai.APIConnectionError as exc:
                last = ServerUnreachable(
                    f"Cannot reach the embedding server at {self.base_url} ({root_cause(exc)}). Is it "
                    "running, and is the URL right (e.g. http://localhost:30000/v1)?"
                )
            except openai.APIStatusError as exc:
                body = body_text(exc)
                status = exc.status_code
                if status in (408, 429) or status >= 500:
                    last = BadResponse(f"The server at {self.base_url} answered HTTP {status}: {body[:300]}")
                elif status in (401, 403):
                    raise InputRejected(f"The server refused the API key (HTTP {status}). Check "
                                        "EMBEDDING_API_KEY or --api-key.", status=status, body=body) from None
                elif status == 404:
                    raise InputRejected(f"{self.base_url} has no embeddings endpoint or no model "
                                        f"{self.model!r} (HTTP 404): {body[:300]}. Check the URL and "
                                        "EMBEDDING_MODEL.", status=status, body=body) from None
                else:
                    raise InputRejected(f"The server rejected the request (HTTP {status}): {body[:400]}",
                                        status=status, body=body) from None
            if attempt == 0:
                time.sleep(0.3)
        assert last is not None
        raise last

    def embed_each(self, texts: Sequence[str], dimensions: int | None = None, workers: int = 4) -> np.ndarray:
        """One request per text (a few in flight), so no batching effect can enter the result.

        Returns:
            float32 (len(texts), dim), as sent by the server (not re-normalised).
        """
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(texts)))) as pool:
            answers = list(pool.map(lambda t: self.embed([t], dimensions), texts))
        dims = {a.vectors.shape[1] for a in answers}
        if len(dims) != 1:
            raise BadResponse(f"The server returned vectors of different sizes {sorted(dims)} for one request "
                              "pattern; is more than one model behind the URL?")
        return np.vstack([a.vectors for a in answers])

    def _parse(self, content: bytes, expected: int, seconds: float) -> Answer:
        try:
            payload = json.loads(content)
            data = sorted(payload["data"], key=lambda d: d["index"])
            rows = [d["embedding"] for d in data]
            if len(rows) != expected or any(not isinstance(r, list) or not r for r in rows):
                raise ValueError(f"{len(rows)} embeddings for {expected} texts")
            if len({len(r) for r in rows}) != 1:
                raise ValueError("vectors of different lengths in one answer")
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadResponse(f"The server at {self.base_url} did not answer with embeddings in the OpenAI "
                              f"format ({exc}). Is this an embeddings endpoint?") from None
        if not np.all(np.isfinite(vectors)):
            raise BadResponse("The server returned NaN or infinite numbers in an embedding.")
        usage = payload.get("usage") if isinstance(payload, dict) else None
        count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        count = count if isinstance(count, int) and not isinstance(count, bool) else None
        model = payload.get("model") if isinstance(payload.get("model"), str) else None
        return Answer(vectors, count, model, seconds)


# --- helpers ------------------------------------------------------------------------------------


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows L2-normalised in float64 (cosines to 1e-7 need more than float32 sums)."""
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _one_minus_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - np.dot(_unit(a).ravel(), _unit(b).ravel()))


def _result(check_id: str, status: Status, verdict: str, action: str = "", **evidence: Any) -> CheckResult:
    return CheckResult(check_id, CHECKS[check_id], status, verdict, action, _jsonable(evidence))


def _guarded(check_id: str):
    """Decorator: time the check and turn any error into a fail with a message (never raise)."""

    def wrap(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> CheckResult:
            from embedlab.rerank import RerankError

            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except (EmbeddingError, RerankError) as exc:
                first = str(exc).split(". ")[0].rstrip(".")
                result = _result(check_id, "fail", f"{first}.",
                                 str(exc), error=type(exc).__name__, status_code=getattr(exc, "status", None))
            except Exception as exc:  # noqa: BLE001 - a check must never break the page or the CLI
                result = _result(check_id, "fail", f"The check itself failed ({type(exc).__name__}: {exc}).",
                                 "This is a bug in the check, not necessarily in the server: attach the JSON "
                                 "report to a ticket.", error=type(exc).__name__)
            result.seconds = time.perf_counter() - start
            return result

        return run

    return wrap


@functools.lru_cache(maxsize=1)
def _long_text() -> tuple[str, np.ndarray]:
    """The probe text (NFC) and each token's start offset: > MODEL_CONTEXT Qwen tokens.

    Built from the bundled chunking samples and labelled corpora, repeated in numbered parts.
    """
    from embedlab.chunking import SAMPLES, load_sample
    from embedlab.evaluation import BUNDLED, load_bundled

    pieces = [load_sample(title) for title in SAMPLES]
    pieces += [doc.text for name in BUNDLED for doc in load_bundled(name).documents]
    blocks: list[str] = []
    total, part = 0, 0
    while total < MODEL_CONTEXT + 1024:
        for piece in pieces:
            part += 1
            block = f"\n\nPart {part}.\n{piece}"
            blocks.append(block)
            total += tokens.count_tokens(block)
    text = unicodedata.normalize("NFC", "".join(blocks).strip())  # token_offsets index the NFC text
    _ids, starts = tokens.token_offsets(text)
    return text, starts


def prefix(n_tokens: int) -> str:
    """The first `n_tokens` Qwen tokens of the probe text (cut at a token start)."""
    text, starts = _long_text()
    return text if n_tokens >= len(starts) else text[: int(starts[n_tokens])]


# --- the checks ---------------------------------------------------------------------------------


@_guarded("server")
def check_server(client: CheckClient, requests: int = 3) -> CheckResult:
    """Served model list and the latency of one short request (median of `requests`)."""
    served = client.served_models()
    latencies, dim, answered_as = [], 0, None
    for i in range(requests):
        answer = client.embed([f"connection test {i}"])
        latencies.append(answer.seconds * 1000)
        dim, answered_as = answer.vectors.shape[1], answer.model
    median = float(np.median(latencies))
    evidence = dict(served_models=served, response_model=answered_as, dimension=dim,
                    latency_ms=[round(x, 1) for x in latencies], median_latency_ms=round(median, 1))
    timing = f"{dim}-d vectors, one short request takes {median:.0f} ms (median of {requests})"
    if served and client.model not in served:
        return _result("server", "warn", f"The server does not list the model {client.model!r}; it serves "
                       f"{', '.join(served[:5])}. {timing}.",
                       "Make sure the model behind the URL is the one you mean: set EMBEDDING_MODEL to the "
                       "served name, or relaunch the server with the right model (vLLM/sglang "
                       "`--served-model-name`).", **evidence)
    listed = "lists" if served else "answers (no model list offered) for"
    return _result("server", "pass", f"The server {listed} {client.model!r}; {timing}.", **evidence)


@_guarded("identity")
def check_identity(client: CheckClient) -> CheckResult:
    """The model card's example scores and the "hello world" vector, each text sent alone."""
    queries = [format_query(REFERENCE_TASK, q) for q in REFERENCE_QUERIES]
    vectors = client.embed_each([*queries, *REFERENCE_DOCUMENTS, HELLO_TEXT])
    dim = int(vectors.shape[1])
    unit = _unit(vectors)
    measured = unit[:2] @ unit[2:4].T  # (2 queries, 2 documents)
    reference = np.asarray(REFERENCE_SCORES)
    max_diff = float(np.abs(measured - reference).max())
    head = unit[4, :5]
    hello_diff = float(np.abs(head - np.asarray(HELLO_HEAD)).max()) if dim >= 5 else None
    evidence = dict(dimension=dim, measured=measured.round(4), reference=reference, vllm_reference=VLLM_SCORES,
                    max_score_difference=max_diff, tolerance=SCORE_ATOL, hello_head=head.round(6),
                    hello_reference=HELLO_HEAD, hello_max_difference=hello_diff, hello_tolerance=HELLO_ATOL,
                    raw_norms=np.linalg.norm(vectors.astype(np.float64), axis=1).round(4))
    scores_ok = dim == FULL_DIM and max_diff <= SCORE_ATOL
    hello_ok = dim == FULL_DIM and hello_diff is not None and hello_diff <= HELLO_ATOL
    if scores_ok and hello_ok:
        return _result("identity", "pass", "This is Qwen3-Embedding-0.6B as published: the model card's scores "
                       f"are reproduced within {max_diff:.4f} and the \"hello world\" vector within "
                       f"{hello_diff:.1e}.", **evidence)
    if scores_ok:
        return _result("identity", "warn", "The scores match Qwen3-Embedding-0.6B (within "
                       f"{max_diff:.4f}), but the \"hello world\" vector differs by {hello_diff:.1e} "
                       f"(> {HELLO_ATOL:g}): a quantised or reduced-precision build, or a changed "
                       "normalisation.", "If the server runs a quantised build (e.g. a GGUF Q4/Q8), "
                       "rankings stay close; use the original weights when results must match the "
                       "published model exactly.", **evidence)
    if dim != FULL_DIM:
        why = f"it returns {dim}-d vectors (0.6B gives {FULL_DIM})"
        if dim in OTHER_SIZES:
            why += f"; {dim} is the size of {OTHER_SIZES[dim]}"
    else:
        why = f"its scores differ from the model card by up to {max_diff:.3f} (tolerance {SCORE_ATOL})"
    return _result("identity", "fail", f"This is not Qwen3-Embedding-0.6B as published: {why}.",
                   _IDENTITY_HINT, **evidence)


@_guarded("batch")
def check_batch(client: CheckClient, long_tokens: int = 512) -> CheckResult:
    """A short text alone vs first and last in a batch with a `long_tokens` text; and the long one."""
    from embedlab.chunking import SAMPLES, load_sample

    short = REFERENCE_QUERIES[0]
    long = tokens.truncate(load_sample(next(iter(SAMPLES))), long_tokens)  # the English policy sample
    alone = client.embed([short]).vectors[0]
    long_alone = client.embed([long]).vectors[0]
    first = client.embed([short, long]).vectors
    last = client.embed([long, short]).vectors
    cos = {
        "short_first_in_batch": 1 - _one_minus_cos(alone, first[0]),
        "short_last_in_batch": 1 - _one_minus_cos(alone, last[1]),
        "long_in_batch": 1 - _one_minus_cos(long_alone, first[1]),
    }
    worst = min(cos, key=cos.get)
    evidence = dict(cosines=cos, threshold=BATCH_MIN_COS, short_tokens=tokens.count_tokens(short),
                    long_tokens=tokens.count_tokens(long))
    if cos[worst] > BATCH_MIN_COS:
        return _result("batch", "pass", f"Batching does not change vectors (lowest cosine {cos[worst]:.6f} "
                       f"> {BATCH_MIN_COS}).", **evidence)
    return _result("batch", "fail", f"Batching changes vectors: a {evidence['short_tokens']}-token text batched with "
                   f"a {evidence['long_tokens']}-token one gives cosine {cos[worst]:.4f} to itself alone "
                   f"({worst.replace('_', ' ')}).",
                   "The server pads or pools wrongly when texts of different lengths share a batch (Qwen3-"
                   "Embedding needs left padding and last-token pooling, or the position of each text's own "
                   "last token). Update the server (see the README's version notes): until then a text's "
                   "vector depends on what else shares its request.",
                   **evidence)


class _Probe:
    """Requests of the truncation probe: exact-length prefixes, a time budget, the evidence rows."""

    def __init__(self, client: CheckClient, budget_s: float) -> None:
        self.client = client
        self.deadline = time.monotonic() + budget_s
        self.rate: float | None = None  # seconds per token of the latest request
        self.rows: list[dict[str, Any]] = []
        self.vectors: dict[int, np.ndarray] = {}
        self.refused_status: int | None = None

    def fits(self, n_tokens: int, copies: int = 1) -> bool:
        """Whether `copies` requests of `n_tokens` are predicted to end within the budget."""
        if self.rate is None:
            return True
        return self.rate * n_tokens * copies * 1.25 <= self.deadline - time.monotonic()

    def send(self, n: int, text: str | None = None, note: str = "") -> np.ndarray | None:
        """The vector of prefix(n) (or of `text`), None when the server refuses it as too long."""
        text = prefix(n) if text is None else text
        exact = tokens.count_tokens(text)
        t0 = time.perf_counter()
        try:
            answer = self.client.embed([text])
        except InputRejected as exc:
            if exc.status not in (400, 413, 422):
                raise
            self.refused_status = exc.status
            self.rows.append(dict(tokens=exact, answer=f"refused (HTTP {exc.status})", change=None,
                                  seconds=time.perf_counter() - t0, server_said=exc.body[:200]))
            return None
        self.rate = answer.seconds / max(exact, 1)
        self.rows.append(dict(tokens=exact, answer="embedded" + note, change=None, seconds=answer.seconds))
        return answer.vectors[0]

    def change(self, vector: np.ndarray, other: np.ndarray) -> float:
        """1 - cos, also written into the latest evidence row."""
        value = max(0.0, _one_minus_cos(vector, other))
        self.rows[-1]["change"] = value
        return value


@_guarded("truncation")
def check_truncation(client: CheckClient, budget_s: float = DEFAULT_PROBE_BUDGET_S, context: int = MODEL_CONTEXT,
                     start: int = 256, max_bisect: int = 12) -> CheckResult:
    """Embed prefixes of a long text at doubling exact token counts up to `context` - 1 (room for
    the end-of-text token); bisect where the vector stops changing or the server refuses.

    "Stops changing" means 1 - cos to the previous length is within max(10 x noise, 1e-5), the
    noise being 1 - cos of the same input sent twice. Requests predicted not to end within
    `budget_s` are not sent. At the longest length reached, one more request replaces the first
    half of the text: a server that keeps only the end of long inputs gives the same vector.
    """
    top = context - 1
    lengths = [start]
    while lengths[-1] * 2 < top:
        lengths.append(lengths[-1] * 2)
    lengths.append(top)
    probe = _Probe(client, budget_s)

    # Noise floor: the same input twice (GPUs are not bit-exact between calls).
    noise, first = 0.0, probe.send(start)
    if first is not None:
        again = probe.send(start, note=" (again: noise)")
        noise = probe.change(again, first) if again is not None else 0.0
        probe.vectors[start] = first
    tol = max(10 * noise, SAME_FLOOR)

    # Doubling: stop at the first length that is refused, changes nothing, fails, or may not fit.
    outcome, stop_error, reached = "full", "", start
    plateau = refusal = None  # (lo, hi) intervals to bisect
    if first is None:
        outcome, refusal = "refused", (0, start)
    steps_up = list(zip(lengths, lengths[1:], strict=False)) if first is not None else []
    for previous, n in steps_up:
        if not probe.fits(n, copies=2):  # this length and, later, its left-truncation request
            outcome = "budget"
            break
        try:
            v = probe.send(n)
        except (ServerTimeout, BadResponse) as exc:
            outcome, stop_error = "error", str(exc)
            break
        if v is None:
            outcome, refusal = "refused", (previous, n)
            break
        probe.vectors[n] = v
        if probe.change(v, probe.vectors[previous]) <= tol:
            # Nothing after `previous` tokens was read, but what came before `previous` was.
            before = lengths[lengths.index(previous) - 1] if previous > start else 0
            outcome, plateau = "truncated", (before, previous)
            break
        reached = n

    steps = 0
    if plateau:  # smallest length whose vector equals the truncated one = tokens actually read
        lo, hi = plateau
        while hi - lo > 1 and steps < max_bisect and probe.fits(hi):
            mid, steps = (lo + hi) // 2, steps + 1
            v = probe.send(mid)
            if v is not None and probe.change(v, probe.vectors[plateau[1]]) <= tol:
                hi = mid
            else:
                lo = mid
        plateau = (lo, hi)
    if refusal:  # longest accepted length
        lo, hi = refusal
        while hi - lo > 1 and steps < max_bisect and probe.fits((lo + hi) // 2):
            mid, steps = (lo + hi) // 2, steps + 1
            try:
                accepted = probe.send(mid) is not None
            except (ServerTimeout, BadResponse):
                break
            lo, hi = (mid, hi) if accepted else (lo, mid)
        refusal = (lo, hi)

    left_truncated = False
    if outcome in ("full", "budget", "error") and reached >= 2 * start:
        # Same ending, different beginning: an identical vector means the beginning was dropped.
        text, starts = _long_text()
        tail = text[int(starts[reached // 2]): int(starts[reached])]
        try:
            v = probe.send(reached, tokens.truncate(tail, reached // 2 - 4) + tail, note=" (first half replaced)")
        except (ServerTimeout, BadResponse):
            v = None
        left_truncated = v is not None and probe.change(v, probe.vectors[reached]) <= tol

    evidence: dict[str, Any] = dict(model_context=context, longest_probe=top, noise=noise, same_threshold=tol,
                                    budget_s=budget_s, outcome=outcome, probes=probe.rows)
    return _truncation_verdict(evidence, context, reached, plateau, refusal, left_truncated, probe.refused_status,
                               stop_error)


def _truncation_verdict(evidence: dict[str, Any], context: int, reached: int, plateau: tuple[int, int] | None,
                        refusal: tuple[int, int] | None, left_truncated: bool, refused_status: int | None,
                        stop_error: str) -> CheckResult:
    chunk = "chunk long documents (Chunking page)"
    raise_context = ("vLLM `--max-model-len 32768`, sglang `--context-length 32768`, Ollama "
                     "`OLLAMA_CONTEXT_LENGTH` / `num_ctx`")
    if left_truncated:
        evidence.update(outcome="left-truncated", effective_context=None)
        return _result("truncation", "fail", f"The server silently drops the beginning of long inputs: a "
                       f"{reached:,}-token text with its first half replaced gives the same vector (it keeps "
                       "only the end).",
                       "Remove the server-side truncation (a per-request option such as vLLM's "
                       "`truncate_prompt_tokens`, TEI's `--auto-truncate` with left truncation) or raise its "
                       f"context; {chunk}.",
                       **evidence)
    if plateau:
        effective = tokens.count_tokens(prefix(plateau[1]))
        evidence.update(effective_context=effective)
        return _result("truncation", "fail", f"The server silently truncates inputs to about {effective:,} tokens "
                       "(+1 end-of-text): text beyond that changes nothing, and no error is returned. The model "
                       f"accepts {context:,}.",
                       f"Raise the server's context ({raise_context}) or stop it truncating (launch TEI "
                       "without `--auto-truncate`; Ollama's embed API takes `\"truncate\": false`) so over-long "
                       f"inputs fail loudly; {chunk}.",
                       **evidence)
    if refusal:
        effective = tokens.count_tokens(prefix(refusal[0])) if refusal[0] else 0
        evidence.update(effective_context=effective, refused_from=tokens.count_tokens(prefix(refusal[1])))
        if effective + 8 >= context - 1:
            return _result("truncation", "pass", f"The server reads the full context: {effective:,} tokens (+1 "
                           "end-of-text) are embedded, longer inputs are refused with an error.", **evidence)
        return _result("truncation", "warn", f"The server refuses inputs longer than about {effective:,} tokens "
                       f"(HTTP {refused_status}), although the model accepts {context:,}; it fails loudly, "
                       "without silent truncation.",
                       f"If you need longer inputs, raise the server's context ({raise_context}); otherwise "
                       f"{chunk} below this length.", **evidence)
    effective = tokens.count_tokens(prefix(reached))
    evidence.update(effective_context=effective)
    if evidence["outcome"] == "full":
        return _result("truncation", "pass", f"The server reads the full context: the vector still changes at "
                       f"{effective:,} tokens (+1 end-of-text = {context:,}); no silent truncation.", **evidence)
    if evidence["outcome"] == "budget":
        return _result("truncation", "warn", f"No truncation up to {effective:,} tokens (the vector still changes); "
                       f"longer inputs were not tried within the {evidence['budget_s']:.0f} s budget of this probe.",
                       "The server is too slow to probe all 32,768 tokens in this time; run `python -m "
                       "embedlab.check --only truncation --probe-budget 300` to measure further.", **evidence)
    return _result("truncation", "warn", f"No truncation up to {effective:,} tokens, but the next, longer input "
                   f"failed: {stop_error.split('. ')[0]}.",
                   f"Long inputs time out or crash the server: check its log and memory, or {chunk} below "
                   f"{effective:,} tokens.", error=stop_error, **evidence)


@_guarded("matryoshka")
def check_matryoshka(client: CheckClient, dimensions: int = 256) -> CheckResult:
    """Ask for `dimensions` and compare with truncate-and-renormalise of the full vectors."""
    texts = [REFERENCE_QUERIES[0], REFERENCE_DOCUMENTS[1]]
    full = client.embed_each(texts)
    size = full.shape[1]
    dims = dimensions if dimensions < size else max(1, size // 2)
    evidence: dict[str, Any] = dict(full_dimension=size, requested=dims)
    client_side = ("The app truncates and re-normalises the full vectors itself, which is exactly Matryoshka, "
                   "so results are right either way.")
    try:
        part = client.embed_each(texts, dimensions=dims)
    except InputRejected as exc:
        if exc.status not in (400, 422):
            raise
        evidence.update(refused=True, server_said=exc.body[:300])
        return _result("matryoshka", "warn", f"The server refuses `dimensions` (HTTP {exc.status}). " + client_side,
                       "To have the server do it, launch it as a Matryoshka model: vLLM `--hf-overrides "
                       "'{\"is_matryoshka\": true}'`, sglang `--json-model-override-args "
                       "'{\"is_matryoshka\": true}'`.", **evidence)
    got = part.shape[1]
    evidence["returned"] = got
    if got == size and size != dims:
        return _result("matryoshka", "warn", f"The server ignores `dimensions`: asked for {dims}, it returned all "
                       f"{size}, without an error. " + client_side,
                       "Clients that trust `dimensions` get full vectors (e.g. an index expecting "
                       f"{dims}-d fails). Upgrade or configure the server to honour it (vLLM/sglang: the "
                       "is_matryoshka override), or truncate on the client as this app does.", **evidence)
    if got != dims:
        return _result("matryoshka", "fail", f"The server returned {got}-d vectors when asked for {dims}.",
                       "The server's `dimensions` handling is broken; do not send `dimensions` to it (set "
                       "EMBEDDING_DIMENSIONS empty) and truncate on the client.", **evidence)
    expected = normalize_rows(full, dims)
    cos = 1 - np.asarray([_one_minus_cos(a, b) for a, b in zip(part, expected, strict=True)])
    norms = np.linalg.norm(part.astype(np.float64), axis=1)
    evidence.update(cosine_to_truncated_full=cos, norms=norms)
    if cos.min() < BATCH_MIN_COS:
        return _result("matryoshka", "fail", f"The server's {dims}-d vectors are not the first {dims} components of "
                       f"its full vectors (cosine {cos.min():.4f}): it reduces dimensions some other way.",
                       "Vectors made with and without `dimensions` cannot be mixed. Do not send `dimensions` "
                       "to this server (set EMBEDDING_DIMENSIONS empty); truncate on the client.", **evidence)
    if np.abs(norms - 1).max() > 1e-3:
        return _result("matryoshka", "warn", f"The server truncates to {dims} dimensions correctly but does not "
                       f"re-normalise (norms {norms.min():.3f}-{norms.max():.3f}).",
                       "Dot products are then not cosines: re-normalise on the client (this app does).",
                       **evidence)
    return _result("matryoshka", "pass", f"The server honours `dimensions`: its {dims}-d vectors equal the full "
                   f"vectors truncated and re-normalised (cosine ≥ {cos.min():.6f}).", **evidence)


@_guarded("instruction")
def check_instruction(client: CheckClient, task: str = DEFAULT_TASK) -> CheckResult:
    """Plain vs instructed queries of a bundled labelled set: vectors must differ; nDCG@10 compared."""
    from embedlab.evaluation import compare_per_query, evaluate_scores, load_bundled, mean_metrics

    data = load_bundled(INSTRUCTION_SET)
    plain = [q.text for q in data.queries]
    instructed = [format_query(task, q.text) for q in data.queries]
    unit = _unit(client.embed_each([*plain, *instructed, *(d.text for d in data.documents)]))
    n = len(plain)
    p, i, docs = unit[:n], unit[n:2 * n], unit[2 * n:]
    cos = np.sum(p * i, axis=1)
    per_plain = evaluate_scores(p @ docs.T, data.doc_ids, data.queries)
    per_instr = evaluate_scores(i @ docs.T, data.doc_ids, data.queries)
    plain_ndcg, instr_ndcg = mean_metrics(per_plain)["ndcg@10"], mean_metrics(per_instr)["ndcg@10"]
    delta = instr_ndcg - plain_ndcg
    evidence = dict(dataset=data.name, queries=n, documents=len(docs), instruction=task,
                    cosine_plain_vs_instructed=dict(min=cos.min(), mean=cos.mean(), max=cos.max()),
                    ndcg10_plain=plain_ndcg, ndcg10_instructed=instr_ndcg, delta=delta,
                    per_query=compare_per_query(per_plain, per_instr))
    if cos.min() > INSTRUCTION_MAX_COS:
        return _result("instruction", "fail", "The instruction has no effect: instructed and plain queries give "
                       f"the same vectors (cosine ≥ {cos.min():.5f}).",
                       "Something between the app and the model drops the instruction (a proxy or server-side "
                       "prompt template that rewrites the input). Send `Instruct: {task}\\nQuery:{query}` "
                       "unchanged to the model.", **evidence)
    moved = f"instructed and plain queries differ, mean cosine {cos.mean():.3f}"
    if delta < -INSTRUCTION_TOLERANCE:
        return _result("instruction", "warn", f"The template reaches the model ({moved}), but the instruction "
                       f"lowers nDCG@10 on the bundled set from {plain_ndcg:.3f} to {instr_ndcg:.3f}.",
                       "Qwen3-Embedding gains 1-5% from instructions; a drop suggests a model not trained with "
                       "this template (see the identity check) or an unsuitable task text. Compare "
                       "instructions on the Evaluate page.", **evidence)
    effect = "helps" if delta > 1e-9 else "does not hurt"
    return _result("instruction", "pass", f"The template reaches the model ({moved}) and the instruction {effect} "
                   f"(nDCG@10 {plain_ndcg:.3f} → {instr_ndcg:.3f}, {delta:+.3f}).", **evidence)


@_guarded("tokens")
def check_tokens(client: CheckClient) -> CheckResult:
    """usage.prompt_tokens of single-text requests vs the exact Qwen count (+1 end-of-text)."""
    rows = []
    for text in TOKEN_SAMPLES:
        answer = client.embed([text])
        rows.append(dict(text=text[:60], qwen_tokens=tokens.count_tokens(text), server_tokens=answer.prompt_tokens))
    evidence: dict[str, Any] = dict(samples=rows)
    if any(not r["server_tokens"] for r in rows):
        return _result("tokens", "warn", "The server does not report usage.prompt_tokens, so its token counts "
                       "cannot be compared.", "Token-based limits and throughput (Benchmark page) cannot use "
                       "the server's own counts; the app counts with the exact Qwen tokenizer instead.",
                       **evidence)
    diffs = sorted({r["server_tokens"] - r["qwen_tokens"] for r in rows})
    evidence["differences"] = diffs
    if diffs in ([0], [1]):
        extra = " + 1 end-of-text token" if diffs == [1] else " (the end-of-text token not counted)"
        return _result("tokens", "pass", f"The server counts tokens like the Qwen tokenizer{extra} on all "
                       f"{len(rows)} samples.", **evidence)
    if len(diffs) == 1:
        return _result("tokens", "warn", f"The server counts {diffs[0]:+d} tokens against the Qwen tokenizer on "
                       "every sample: it adds (or drops) a fixed prefix or special tokens.",
                       "Check the server's prompt template / special-token settings; a fixed added prefix "
                       "also changes the vectors (see the identity check).", **evidence)
    return _result("tokens", "fail", f"The server's token counts differ from the Qwen tokenizer by {diffs[0]:+d} to "
                   f"{diffs[-1]:+d} tokens: it does not tokenize like Qwen3-Embedding.",
                   "A different tokenizer means a different model (see the identity check) or a server that "
                   "rewrites the input; its context limits and usage figures do not match Qwen's.", **evidence)


@_guarded("rerank")
def check_rerank(base_url: str | None, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Known-answer cases (Chinese and English): the right passage must come first."""
    from embedlab.rerank import RerankClient

    if not base_url:
        return _result("rerank", "skip", "No reranker configured (RERANK_BASE_URL is not set).")
    client = RerankClient(base_url, model, api_key, timeout_s=timeout_s)
    cases, right = [], 0
    for query, documents, answer in RERANK_CASES:
        scores = client.rerank(query, documents)
        top = scores[0].index if scores else None
        right += top == answer
        cases.append(dict(query=query, expected=documents[answer],
                          ranked_first=None if top is None else documents[top],
                          scores={documents[s.index]: s.score for s in scores}))
    evidence = dict(reranker=public_url(base_url), model=client.model, cases=cases)
    if right == len(RERANK_CASES):
        return _result("rerank", "pass", f"The reranker puts the right passage first in all {right} known-answer "
                       "cases (Chinese and English).", **evidence)
    wrong = "; ".join(f"{c['query']!r} → {c['ranked_first']!r}"
                      for c in cases if c["ranked_first"] != c["expected"])
    return _result("rerank", "fail", f"The reranker ranks a wrong passage first in {len(cases) - right} of "
                   f"{len(cases)} known-answer cases: {wrong}.",
                   "Check that RERANK_MODEL names a Qwen3-Reranker served as a reranker (sglang/vLLM /v1/rerank) "
                   "and that the server applies the Qwen3-Reranker prompt template; a generic model behind the "
                   "endpoint gives arbitrary scores.", **evidence)


# --- running everything -------------------------------------------------------------------------


def select(only: Iterable[str] | str | None) -> list[str]:
    """The check ids to run, in run order, from ids or a comma-separated string; ValueError if unknown.

    "server" (the connection test) is always included.
    """
    if only is None:
        return list(CHECKS)
    wanted = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
    unknown = [s for s in wanted if s not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    return [c for c in CHECKS if c in wanted or c == "server"]


def run_checks(
    base_url: str,
    model: str,
    api_key: str | None = None,
    *,
    rerank_base_url: str | None = None,
    rerank_model: str | None = None,
    rerank_api_key: str | None = None,
    only: Iterable[str] | str | None = None,
    progress: ProgressCallback | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    probe_budget_s: float = DEFAULT_PROBE_BUDGET_S,
) -> Report:
    """Run the selected checks in order against one server; never raises for server problems.

    When the connection check fails, the other embedding checks are skipped (the reranker, a
    separate server, is still checked). ValueError only for unknown ids in `only`.
    """
    order = select(only)
    report = Report(public_url(base_url.rstrip("/")), model, datetime.now(UTC).isoformat(timespec="seconds"),
                    rerank_base_url=public_url(rerank_base_url) if rerank_base_url else None, rerank_model=rerank_model)
    started = time.perf_counter()
    client = CheckClient(base_url, model, api_key, timeout_s=timeout_s)
    runners: dict[str, Callable[[], CheckResult]] = {
        "server": lambda: check_server(client),
        "identity": lambda: check_identity(client),
        "batch": lambda: check_batch(client),
        "truncation": lambda: check_truncation(client, budget_s=probe_budget_s),
        "matryoshka": lambda: check_matryoshka(client),
        "instruction": lambda: check_instruction(client),
        "tokens": lambda: check_tokens(client),
        "rerank": lambda: check_rerank(rerank_base_url, rerank_model, rerank_api_key, timeout_s),
    }
    try:
        for done, check_id in enumerate(order):
            if progress:
                progress(done, len(order), CHECKS[check_id])
            if not report.reachable and check_id != "rerank":
                result = _result(check_id, "skip", "Not run: the connection check failed.")
            else:
                result = runners[check_id]()
            report.results.append(result)
    finally:
        client.close()
        report.seconds = time.perf_counter() - started
    if progress:
        progress(len(order), len(order), "")
    return report


# --- command line -------------------------------------------------------------------------------

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def exit_status(report: Report) -> int:
    """0 nothing failed, 1 a check failed, 3 the server could not be used at all."""
    if not report.reachable:
        return EXIT_UNREACHABLE
    return EXIT_FAILED if report.failed else EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m embedlab.check",
        description="Check that an OpenAI-compatible server really serves Qwen3-Embedding correctly.",
        epilog="Exit status: 0 nothing failed, 1 a check failed, 2 bad arguments, 3 the server cannot be "
               "reached (or refuses every request). Progress goes to stderr, the report to stdout.",
    )
    parser.add_argument("--base-url", help="embedding server, e.g. http://localhost:30000/v1 "
                        "(default: EMBEDDING_BASE_URL)")
    parser.add_argument("--model", help="model name sent to the server (default: EMBEDDING_MODEL)")
    parser.add_argument("--api-key", default=None, help="bearer token (default: EMBEDDING_API_KEY for the "
                        "configured server only)")
    parser.add_argument("--rerank-base-url", help="reranker with /v1/rerank (default: RERANK_BASE_URL)")
    parser.add_argument("--rerank-model", help="reranker model name (default: RERANK_MODEL)")
    parser.add_argument("--only", metavar="ID,...", help="run only these checks: " + ", ".join(CHECKS))
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per request (default 30)")
    parser.add_argument("--probe-budget", type=float, default=DEFAULT_PROBE_BUDGET_S,
                        help="seconds the truncation probe may spend (default 20)")
    return parser


def _table(report: Report) -> str:
    lines = [f"server: {report.base_url}  model: {report.model}  ({report.seconds:.1f} s)", ""]
    width = max(len(r.title) for r in report.results) if report.results else 10
    for r in report.results:
        lines.append(f"{r.status.upper():<5} {r.title:<{width}} {r.seconds:6.1f} s  {r.verdict}")
    todo = [r for r in report.results if r.status in ("fail", "warn") and r.action]
    if todo:
        lines += ["", "What to do:"]
        lines += [f"- {r.title}: {r.action}" for r in todo]
    c = report.counts
    lines += ["", f"{c['fail']} fail, {c['warn']} warn, {c['pass']} pass, {c['skip']} skipped"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from embedlab.config import SettingsError, load_settings

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        order = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    if args.timeout <= 0 or args.probe_budget <= 0:
        parser.error("--timeout and --probe-budget must be positive")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    base_url = args.base_url or settings.embedding_base_url
    if not base_url:
        parser.error("no server to check: pass --base-url or set EMBEDDING_BASE_URL (the in-process model "
                     "needs no check)")
    # The configured key is sent only to the configured server, never to another --base-url.
    api_key = args.api_key if args.base_url else args.api_key or settings.embedding_api_key

    def progress(done: int, total: int, title: str) -> None:
        if title:
            print(f"[{done + 1}/{total}] {title} ...", file=sys.stderr, flush=True)

    report = run_checks(
        base_url, args.model or settings.embedding_model, api_key,
        rerank_base_url=args.rerank_base_url or settings.rerank_base_url,
        rerank_model=args.rerank_model or settings.rerank_model,
        only=order, progress=progress, timeout_s=args.timeout, probe_budget_s=args.probe_budget,
    )
    if args.format == "json":
        print(report.to_json())
    elif args.format == "markdown":
        print(report.to_markdown(), end="")
    else:
        print(_table(report))
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
