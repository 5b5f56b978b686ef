"""The server checks but the truncation probe (embedlab.servercheck.truncation): connection,
identity, batch invariance, Matryoshka, instruction effect, token counts, reranker. Each measures
one property against the server itself (never through the embedding cache) and returns a
CheckResult; none raises (`guarded`). Only the batch check sends more than one text per request,
so a batching bug shows up in that check alone."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from embedlab import tokens
from embedlab.backends import EmbeddingError, InputRejected, normalize_rows
from embedlab.chunking import SAMPLES, load_sample_document
from embedlab.config import public_url
from embedlab.evaluation.datasets import load_bundled
from embedlab.evaluation.metrics import compare_per_query, evaluate_scores, mean_metrics
from embedlab.instructions import DEFAULT_TASK, format_query
from embedlab.messages import N_, Message
from embedlab.rerank import RerankClient, RerankError
from embedlab.servercheck.client import DEFAULT_TIMEOUT_S, CheckClient
from embedlab.servercheck.reference import (
    FULL_DIM,
    HELLO_HEAD,
    HELLO_TEXT,
    OTHER_SIZES,
    REFERENCE_DOCUMENTS,
    REFERENCE_QUERIES,
    REFERENCE_SCORES,
    REFERENCE_TASK,
    VLLM_SCORES,
)
from embedlab.servercheck.report import CheckResult, outcome

SCORE_ATOL = 0.01  # a correct server differs from the card by < 0.003; another model by far more
HELLO_ATOL = 1e-3
BATCH_MIN_COS = 0.9999
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

IDENTITY_HINT = Message(N_(
    "Check which model the server loaded (its launch command and GET /v1/models). If it is "
    "Qwen3-Embedding-0.6B, the server computes the vector differently from the reference: it must "
    "append the end-of-text token, pool the last token (left padding) and L2-normalise. Update the "
    "server to a release that supports Qwen3-Embedding and compare again."
))
ROUNDING = 1e-12  # float64 cosines of float32 vectors are exact to about 1e-15: smaller is rounding


BATCH_PLACES = {"short_first_in_batch": N_("short first in batch"), "short_last_in_batch": N_("short last in batch"),
                "long_in_batch": N_("long in batch")}


def unit_float64(vectors: np.ndarray) -> np.ndarray:
    """Rows L2-normalised in float64 (cosines to 1e-7 need more than float32 sums)."""
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def one_minus_cos(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cos(a, b), computed in float64; 0.0 when below ROUNDING (identical vectors give 1e-16)."""
    value = float(1.0 - np.dot(unit_float64(a).ravel(), unit_float64(b).ravel()))
    return 0.0 if abs(value) < ROUNDING else value


def error_message(exc: BaseException) -> Message:
    """The user's message of a backend error: its own Message when it carries one, else its text."""
    message = getattr(exc, "message", None)
    return message if isinstance(message, Message) else Message(str(exc))


def guarded(check_id: str):
    """Decorator: time the check and turn any error into a fail with a message (never raise)."""

    def wrap(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> CheckResult:
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except (EmbeddingError, RerankError) as exc:
                # The exports keep the first sentence as the verdict and the whole text as what to do;
                # the page shows the whole message once, in the user's language.
                first = str(exc).split(". ")[0].rstrip(".")
                result = outcome(check_id, "fail", error_message(exc), None,
                                 error=type(exc).__name__, status_code=getattr(exc, "status", None))
                result.verdict, result.action = f"{first}.", str(exc)
            except Exception as exc:  # noqa: BLE001 - a check must never break the page or the CLI
                result = outcome(check_id, "fail", Message(N_("The check itself failed ({error}: {detail})."),
                                                           {"error": type(exc).__name__, "detail": str(exc)}),
                                 Message(N_("This is a bug in the check, not necessarily in the server: attach "
                                            "the JSON report to a ticket.")), error=type(exc).__name__)
            result.seconds = time.perf_counter() - start
            return result

        return run

    return wrap


@guarded("server")
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
    timing = {"dim": dim, "ms": f"{median:,.0f}", "requests": requests}
    if served and client.model not in served:
        return outcome("server", "warn", Message(N_(
            "The server does not list the model {model}; it serves {served}. {dim}-d vectors, one short request "
            "takes {ms} ms (median of {requests})."), {"model": repr(client.model), "served": ", ".join(served[:5]),
                                                      **timing}),
                       Message(N_("Make sure the model behind the URL is the one you mean: set EMBEDDING_MODEL to "
                                  "the served name, or relaunch the server with the right model (vLLM/sglang "
                                  "`--served-model-name`).")), **evidence)
    if served:
        verdict = N_("The server lists {model}; {dim}-d vectors, one short request takes {ms} ms (median of "
                     "{requests}).")
    else:
        verdict = N_("The server answers (no model list offered) for {model}; {dim}-d vectors, one short request "
                     "takes {ms} ms (median of {requests}).")
    return outcome("server", "pass", Message(verdict, {"model": repr(client.model), **timing}), **evidence)


@guarded("identity")
def check_identity(client: CheckClient) -> CheckResult:
    """The model card's example scores and the "hello world" vector, each text sent alone."""
    queries = [format_query(REFERENCE_TASK, q) for q in REFERENCE_QUERIES]
    vectors = client.embed_each([*queries, *REFERENCE_DOCUMENTS, HELLO_TEXT])
    dim = int(vectors.shape[1])
    unit = unit_float64(vectors)
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
        return outcome("identity", "pass", Message(N_(
            "This is Qwen3-Embedding-0.6B as published: the model card's scores are reproduced within {diff} and "
            "the \"hello world\" vector within {hello}."), {"diff": f"{max_diff:.4f}", "hello": f"{hello_diff:.1e}"}),
                       **evidence)
    if scores_ok:
        return outcome("identity", "warn", Message(N_(
            "The scores match Qwen3-Embedding-0.6B (within {diff}), but the \"hello world\" vector differs by "
            "{hello} (> {tolerance}): a quantised or reduced-precision build, or a changed normalisation."),
            {"diff": f"{max_diff:.4f}", "hello": f"{hello_diff:.1e}", "tolerance": f"{HELLO_ATOL:g}"}),
                       Message(N_("If the server runs a quantised build (e.g. a GGUF Q4/Q8), rankings stay close; "
                                  "use the original weights when results must match the published model exactly.")),
                       **evidence)
    if dim != FULL_DIM and dim in OTHER_SIZES:
        verdict = Message(N_("This is not Qwen3-Embedding-0.6B as published: it returns {dim}-d vectors (0.6B gives "
                             "{full}); {dim} is the size of {other}."),
                          {"dim": dim, "full": FULL_DIM, "other": OTHER_SIZES[dim]})
    elif dim != FULL_DIM:
        verdict = Message(N_("This is not Qwen3-Embedding-0.6B as published: it returns {dim}-d vectors (0.6B gives "
                             "{full})."), {"dim": dim, "full": FULL_DIM})
    else:
        verdict = Message(N_("This is not Qwen3-Embedding-0.6B as published: its scores differ from the model card "
                             "by up to {diff} (tolerance {tolerance})."),
                          {"diff": f"{max_diff:.3f}", "tolerance": SCORE_ATOL})
    return outcome("identity", "fail", verdict, IDENTITY_HINT, **evidence)


@guarded("batch")
def check_batch(client: CheckClient, long_tokens: int = 512) -> CheckResult:
    """A short text alone vs first and last in a batch with a `long_tokens` text; and the long one."""
    short = REFERENCE_QUERIES[0]
    long = tokens.truncate(load_sample_document(next(iter(SAMPLES))), long_tokens)  # the English policy sample
    alone = client.embed([short]).vectors[0]
    long_alone = client.embed([long]).vectors[0]
    first = client.embed([short, long]).vectors
    last = client.embed([long, short]).vectors
    cos = {
        "short_first_in_batch": 1 - one_minus_cos(alone, first[0]),
        "short_last_in_batch": 1 - one_minus_cos(alone, last[1]),
        "long_in_batch": 1 - one_minus_cos(long_alone, first[1]),
    }
    worst = min(cos, key=cos.get)
    evidence = dict(cosines=cos, threshold=BATCH_MIN_COS, short_tokens=tokens.count_tokens(short),
                    long_tokens=tokens.count_tokens(long))
    if cos[worst] > BATCH_MIN_COS:
        return outcome("batch", "pass", Message(N_("Batching does not change vectors (lowest cosine {cos} > "
                                                   "{threshold})."),
                                                {"cos": f"{cos[worst]:.6f}", "threshold": BATCH_MIN_COS}), **evidence)
    return outcome("batch", "fail", Message(N_(
        "Batching changes vectors: a {short}-token text batched with a {long}-token one gives cosine {cos} to itself "
        "alone ({where})."), {"short": evidence["short_tokens"], "long": evidence["long_tokens"],
                              "cos": f"{cos[worst]:.4f}", "where": Message(BATCH_PLACES[worst])}),
                   Message(N_("The server pads or pools wrongly when texts of different lengths share a batch "
                              "(Qwen3-Embedding needs left padding and last-token pooling, or the position of each "
                              "text's own last token). Update the server (see the README's version notes): until "
                              "then a text's vector depends on what else shares its request.")),
                   **evidence)

@guarded("matryoshka")
def check_matryoshka(client: CheckClient, dimensions: int = 256) -> CheckResult:
    """Ask for `dimensions` and compare with truncate-and-renormalise of the full vectors."""
    texts = [REFERENCE_QUERIES[0], REFERENCE_DOCUMENTS[1]]
    full = client.embed_each(texts)
    size = full.shape[1]
    dims = dimensions if dimensions < size else max(1, size // 2)
    evidence: dict[str, Any] = dict(full_dimension=size, requested=dims)
    try:
        part = client.embed_each(texts, dimensions=dims)
    except InputRejected as exc:
        if exc.status not in (400, 422):
            raise
        evidence.update(refused=True, server_said=exc.body[:300])
        return outcome("matryoshka", "warn", Message(N_(
            "The server refuses `dimensions` (HTTP {status}). The app truncates and re-normalises the full vectors "
            "itself, which is exactly Matryoshka, so results are right either way."), {"status": exc.status}),
                       Message(N_("To have the server do it, launch it as a Matryoshka model: vLLM {vllm}, sglang "
                                  "{sglang}."),
                               {"vllm": "`--hf-overrides '{\"is_matryoshka\": true}'`",
                                "sglang": "`--json-model-override-args '{\"is_matryoshka\": true}'`"}), **evidence)
    got = part.shape[1]
    evidence["returned"] = got
    if got == size and size != dims:
        return outcome("matryoshka", "warn", Message(N_(
            "The server ignores `dimensions`: asked for {dims}, it returned all {size}, without an error. The app "
            "truncates and re-normalises the full vectors itself, which is exactly Matryoshka, so results are right "
            "either way."), {"dims": dims, "size": size}),
                       Message(N_("Clients that trust `dimensions` get full vectors (e.g. an index expecting {dims}-d "
                                  "fails). Upgrade or configure the server to honour it (vLLM/sglang: the "
                                  "is_matryoshka override), or truncate on the client as this app does."),
                               {"dims": dims}), **evidence)
    if got != dims:
        return outcome("matryoshka", "fail", Message(N_("The server returned {got}-d vectors when asked for {dims}."),
                                                     {"got": got, "dims": dims}),
                       Message(N_("The server's `dimensions` handling is broken; do not send `dimensions` to it (set "
                                  "EMBEDDING_DIMENSIONS empty) and truncate on the client.")), **evidence)
    expected = normalize_rows(full, dims)
    cos = 1 - np.asarray([one_minus_cos(a, b) for a, b in zip(part, expected, strict=True)])
    norms = np.linalg.norm(part.astype(np.float64), axis=1)
    evidence.update(cosine_to_truncated_full=cos, norms=norms)
    if cos.min() < BATCH_MIN_COS:
        return outcome("matryoshka", "fail", Message(N_(
            "The server's {dims}-d vectors are not the first {dims} components of its full vectors (cosine {cos}): "
            "it reduces dimensions some other way."), {"dims": dims, "cos": f"{cos.min():.4f}"}),
                       Message(N_("Vectors made with and without `dimensions` cannot be mixed. Do not send "
                                  "`dimensions` to this server (set EMBEDDING_DIMENSIONS empty); truncate on the "
                                  "client.")), **evidence)
    if np.abs(norms - 1).max() > 1e-3:
        return outcome("matryoshka", "warn", Message(N_(
            "The server truncates to {dims} dimensions correctly but does not re-normalise (norms {low}-{high})."),
            {"dims": dims, "low": f"{norms.min():.3f}", "high": f"{norms.max():.3f}"}),
                       Message(N_("Dot products are then not cosines: re-normalise on the client (this app does).")),
                       **evidence)
    return outcome("matryoshka", "pass", Message(N_(
        "The server honours `dimensions`: its {dims}-d vectors equal the full vectors truncated and re-normalised "
        "(cosine ≥ {cos})."), {"dims": dims, "cos": f"{cos.min():.6f}"}), **evidence)


@guarded("instruction")
def check_instruction(client: CheckClient, task: str = DEFAULT_TASK) -> CheckResult:
    """Plain vs instructed queries of a bundled labelled set: vectors must differ; nDCG@10 compared."""
    data = load_bundled(INSTRUCTION_SET)
    plain = [q.text for q in data.queries]
    instructed = [format_query(task, q.text) for q in data.queries]
    unit = unit_float64(client.embed_each([*plain, *instructed, *(d.text for d in data.documents)]))
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
        return outcome("instruction", "fail", Message(N_(
            "The instruction has no effect: instructed and plain queries give the same vectors (cosine ≥ {cos})."),
            {"cos": f"{cos.min():.5f}"}),
                       Message(N_("Something between the app and the model drops the instruction (a proxy or "
                                  "server-side prompt template that rewrites the input). Send {template} unchanged "
                                  "to the model."), {"template": "`Instruct: {task}\\nQuery:{query}`"}), **evidence)
    numbers = {"cos": f"{cos.mean():.3f}", "plain": f"{plain_ndcg:.3f}", "instructed": f"{instr_ndcg:.3f}",
               "delta": f"{delta:+.3f}"}
    if delta < -INSTRUCTION_TOLERANCE:
        return outcome("instruction", "warn", Message(N_(
            "The template reaches the model (instructed and plain queries differ, mean cosine {cos}), but the "
            "instruction lowers nDCG@10 on the bundled set from {plain} to {instructed}."), numbers),
                       Message(N_("Qwen3-Embedding gains {gain} from instructions; a drop suggests a model not "
                                  "trained with this template (see the identity check) or an unsuitable task text. "
                                  "Compare instructions on the Evaluate page."), {"gain": "1-5%"}), **evidence)
    if delta > 1e-9:
        verdict = N_("The template reaches the model (instructed and plain queries differ, mean cosine {cos}) and "
                     "the instruction helps (nDCG@10 {plain} → {instructed}, {delta}).")
    else:
        verdict = N_("The template reaches the model (instructed and plain queries differ, mean cosine {cos}) and "
                     "the instruction does not hurt (nDCG@10 {plain} → {instructed}, {delta}).")
    return outcome("instruction", "pass", Message(verdict, numbers), **evidence)


@guarded("tokens")
def check_tokens(client: CheckClient) -> CheckResult:
    """usage.prompt_tokens of single-text requests vs the exact Qwen count (+1 end-of-text)."""
    rows = []
    for text in TOKEN_SAMPLES:
        answer = client.embed([text])
        rows.append(dict(text=text[:60], qwen_tokens=tokens.count_tokens(text), server_tokens=answer.prompt_tokens))
    evidence: dict[str, Any] = dict(samples=rows)
    if any(not r["server_tokens"] for r in rows):
        return outcome("tokens", "warn", Message(N_("The server does not report usage.prompt_tokens, so its token "
                                                    "counts cannot be compared.")),
                       Message(N_("Token-based limits and throughput (Benchmark page) cannot use the server's own "
                                  "counts; the app counts with the exact Qwen tokenizer instead.")), **evidence)
    diffs = sorted({r["server_tokens"] - r["qwen_tokens"] for r in rows})
    evidence["differences"] = diffs
    if diffs == [1]:
        return outcome("tokens", "pass", Message(N_("The server counts tokens like the Qwen tokenizer + 1 "
                                                    "end-of-text token on all {n} samples."), {"n": len(rows)}),
                       **evidence)
    if diffs == [0]:
        return outcome("tokens", "pass", Message(N_("The server counts tokens like the Qwen tokenizer (the "
                                                    "end-of-text token not counted) on all {n} samples."),
                                                 {"n": len(rows)}), **evidence)
    if len(diffs) == 1:
        return outcome("tokens", "warn", Message(N_(
            "The server counts {diff} tokens against the Qwen tokenizer on every sample: it adds (or drops) a fixed "
            "prefix or special tokens."), {"diff": f"{diffs[0]:+d}"}),
                       Message(N_("Check the server's prompt template / special-token settings; a fixed added "
                                  "prefix also changes the vectors (see the identity check).")), **evidence)
    return outcome("tokens", "fail", Message(N_(
        "The server's token counts differ from the Qwen tokenizer by {low} to {high} tokens: it does not tokenize "
        "like Qwen3-Embedding."), {"low": f"{diffs[0]:+d}", "high": f"{diffs[-1]:+d}"}),
                   Message(N_("A different tokenizer means a different model (see the identity check) or a server "
                              "that rewrites the input; its context limits and usage figures do not match Qwen's.")),
                   **evidence)


@guarded("rerank")
def check_rerank(base_url: str | None, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Known-answer cases (Chinese and English): the right passage must come first."""
    if not base_url:
        return outcome("rerank", "skip", Message(N_("No reranker configured (RERANK_BASE_URL is not set).")))
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
        return outcome("rerank", "pass", Message(N_("The reranker puts the right passage first in all {n} "
                                                    "known-answer cases (Chinese and English)."), {"n": right}),
                       **evidence)
    wrong = "; ".join(f"{c['query']!r} → {c['ranked_first']!r}"
                      for c in cases if c["ranked_first"] != c["expected"])
    return outcome("rerank", "fail", Message(N_(
        "The reranker ranks a wrong passage first in {wrong_n} of {n} known-answer cases: {wrong}."),
        {"wrong_n": len(cases) - right, "n": len(cases), "wrong": wrong}),
                   Message(N_("Check that RERANK_MODEL names a Qwen3-Reranker served as a reranker (sglang/vLLM "
                              "/v1/rerank) and that the server applies the Qwen3-Reranker prompt template; a generic "
                              "model behind the endpoint gives arbitrary scores.")), **evidence)
