"""Embedding backends: what every embedder is and raises, the OpenAI-compatible server client and
`make_backend`, which picks it or the in-process model (embedlab.local_model) from the settings.

Both return float32 arrays of shape (n, dim) with L2-normalised rows, whatever the server sent.
Failures are raised as one small family of exceptions whose messages a user can act on.

`openai_client` and `post_embeddings` are the one request path to an OpenAI-compatible server
(client construction, HTTP status -> the user's error, response parsing and validation): the
embedder, the server check and the benchmark all send their requests through them, each with its
own retry policy (`TRANSIENT` lists the failures worth another try).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embedlab.config import Settings, api_root, public_url
from embedlab.messages import N_, LocalizedError, Message
from embedlab.tokens import count_tokens

ProgressCallback = Callable[[int, int], None]
"""Called as progress(done, total) with counts of texts, from the calling thread."""

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class EmbeddingError(LocalizedError):
    """Base of the backend errors: `error.message` is fit to show a user (translated by the UI),
    str(error) its English text."""


class ServerUnreachable(EmbeddingError):
    """Nothing answers at the configured address (refused, DNS, TLS, reset)."""


class ServerTimeout(EmbeddingError):
    """The server accepted the connection but did not answer in time."""


class InputRejected(EmbeddingError):
    """The server refused the request (4xx); `body` is the server's own explanation."""

    def __init__(
        self,
        msgid: str,
        *,
        status: int | None = None,
        body: str = "",
        indices: Sequence[int] = (),
        partial: dict[int, np.ndarray] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(msgid, status=status, **params)  # the message may name the status too
        self.status = status
        self.body = body
        self.indices = list(indices)  # positions of the offending texts in the input, if known
        # Vectors of the texts that were accepted, by input position: callers keep (cache) them.
        self.partial = partial or {}


class BadResponse(EmbeddingError):
    """The server answered, but not with usable embeddings."""


class ServerError(BadResponse):
    """The server answered HTTP 408, 429 or 5xx: overloaded or failing, worth another try."""


class ModelUnavailable(EmbeddingError):
    """The in-process model cannot be loaded (no network for the download, bad local path)."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into normalised vectors."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed texts in order.

        Returns:
            float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        ...


def clean_text(text: str) -> str:
    """Replace lone UTF-16 surrogates, which cannot be encoded as UTF-8 for the request."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def check_texts(texts: Sequence[str]) -> None:
    """Refuse empty or whitespace-only texts before any request is made."""
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        shown = ", ".join(f"#{i + 1}" for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise InputRejected(
            N_("{n} text(s) are empty or only whitespace ({shown}); remove or fill them."),
            indices=bad, n=len(bad), shown=shown,
        )


def normalize_rows(vectors: np.ndarray, dimensions: int | None = None) -> np.ndarray:
    """Optionally truncate to `dimensions` (Matryoshka) and L2-normalise each row.

    Args:
        vectors: array of shape (n, d).
        dimensions: keep the first `dimensions` components when set (must be <= d).
    Returns:
        float32 array of shape (n, dimensions or d).
    """
    out = np.asarray(vectors, dtype=np.float32)
    if dimensions is not None:
        out = out[:, :dimensions]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise BadResponse(N_("The model returned an all-zero vector; it cannot be normalised."))
    return np.ascontiguousarray(out / norms, dtype=np.float32)


def batches(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive batches of at most `size` out of n items."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


# -- the one request path to an OpenAI-compatible server ----------------------------------------

TRANSIENT = (ServerUnreachable, ServerTimeout, ServerError)  # failures a retry may cure


@dataclass(frozen=True)
class EmbeddingsAnswer:
    """One /embeddings answer as the server sent it."""

    vectors: np.ndarray  # float32 (n_texts, dim), NOT re-normalised
    prompt_tokens: int | None  # usage.prompt_tokens, None when the server does not report it
    model: str | None  # the "model" field of the answer
    seconds: float  # the request's time, parsing excluded


def openai_client(base_url: str, api_key: str | None, timeout_s: float, connect_timeout_s: float = 5.0) -> Any:
    """The official openai client for the server at `base_url`, with no retries of its own (each
    caller retries only what it should) and a bounded connect time (openai's defaults are a 600 s
    timeout and 2 retries)."""
    import httpx
    import openai

    return openai.OpenAI(
        base_url=api_root(base_url),
        api_key=api_key or "not-needed",
        max_retries=0,
        timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
    )


def post_embeddings(client: Any, where: str, model: str, texts: list[str], dimensions: int | None = None,
                    timeout_s: float = 30.0, limit_s: float | None = None) -> EmbeddingsAnswer:
    """One POST /embeddings of `texts` (float encoding), parsed and validated.

    Args:
        where: the server's address as messages name it.
        timeout_s: the request timeout, named in the timeout message; limit_s: at most this long
            for this request (what is left of a caller's budget).
    Raises:
        The EmbeddingError for the user: ServerUnreachable, ServerTimeout, ServerError (408, 429,
        5xx), InputRejected (other 4xx, with the server's body), BadResponse (no usable vectors).
    """
    import openai

    extra = {"dimensions": dimensions} if dimensions else {}
    start = time.perf_counter()
    try:
        # The raw body parsed with json + numpy costs a fifth of the CPU of the
        # client's pydantic models: it matters when client and server share cores.
        response = client.embeddings.with_raw_response.create(
            model=model, input=texts, encoding_format="float",
            timeout=timeout_s if limit_s is None else min(timeout_s, limit_s), **extra,
        )
    except openai.APITimeoutError:
        raise ServerTimeout(
            N_("The embedding server at {where} did not answer within {seconds} s. It may be "
               "overloaded or stuck; try fewer texts or check the server's log."),
            where=where, seconds=f"{timeout_s:g}",
        ) from None
    except openai.APIConnectionError as exc:
        raise ServerUnreachable(
            N_("Cannot reach the embedding server at {where} ({cause}). Is it running, and is "
               "the URL right (e.g. http://localhost:30000/v1)? Start one with `sglang serve --model-path "
               "Qwen/Qwen3-Embedding-0.6B --is-embedding`, or clear the URL to use the local model."),
            where=where, cause=root_cause(exc),
        ) from None
    except openai.APIStatusError as exc:
        raise status_error(exc.status_code, body_text(exc), where, model) from None
    except openai.APIResponseValidationError as exc:
        raise BadResponse(
            N_("The server at {where} did not return embeddings in the OpenAI format ({detail}). "
               "Is this an embeddings endpoint?"),
            where=where, detail=str(exc)[:200],
        ) from None
    seconds = time.perf_counter() - start
    return parse_embeddings(response.http_response.content, len(texts), where, seconds)


def status_error(status: int, body: str, where: str, model: str) -> EmbeddingError:
    """The user's error for an HTTP error answer of an embeddings request."""
    if status in (408, 429) or status >= 500:
        if status == 429:
            return ServerError(N_("The embedding server at {where} answered HTTP {status} (rate limited): {body}"),
                               where=where, status=status, body=body[:300])
        return ServerError(N_("The embedding server at {where} answered HTTP {status}: {body}"),
                           where=where, status=status, body=body[:300])
    if status in (401, 403):
        return InputRejected(
            N_("The embedding server refused the API key (HTTP {status}). Check EMBEDDING_API_KEY "
               "(--api-key on the command line)."), status=status, body=body,
        )
    if status == 404:
        return InputRejected(
            N_("{where} has no embeddings endpoint or no model {model} (HTTP 404): {detail}. Check the "
               "URL and EMBEDDING_MODEL."), status=status, body=body, where=where, model=repr(model),
            detail=body[:300],
        )
    return InputRejected(N_("The embedding server rejected the input (HTTP {status}): {detail}"),
                         status=status, body=body, detail=body[:500])


def parse_embeddings(content: bytes, expected: int, where: str, seconds: float = 0.0) -> EmbeddingsAnswer:
    """Parse an embeddings answer: float32 (expected, d) finite vectors, or BadResponse."""
    try:
        payload = json.loads(content)
    except ValueError:
        raise BadResponse(
            N_("The server at {where} answered with something that is not JSON "
               "({start}...). Is the URL an OpenAI-compatible embeddings endpoint?"),
            where=where, start=repr(content[:80]),
        ) from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise BadResponse(
            N_("The server at {where} answered, but not with an embeddings list "
               "(is the URL an OpenAI-compatible embeddings server?)."), where=where,
        )
    if len(data) != expected:
        raise BadResponse(
            N_("The server returned {got} vectors for {expected} texts; refusing a partial answer."),
            got=len(data), expected=expected,
        )
    try:
        rows = [d["embedding"] for d in sorted(data, key=lambda d: d["index"])]
        if any(not isinstance(r, list) for r in rows):
            raise TypeError("embedding is not a list of floats (base64 answer to a float request?)")
        lengths = {len(r) for r in rows}
        if len(lengths) != 1 or 0 in lengths:
            raise BadResponse(N_("The server returned vectors of different lengths {lengths}."),
                              lengths=sorted(lengths))
        matrix = np.asarray(rows, dtype=np.float32)
    except BadResponse:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise BadResponse(N_("The server returned malformed vectors ({detail})."), detail=str(exc)) from None
    if not np.all(np.isfinite(matrix)):
        raise BadResponse(N_("The server returned NaN or infinite numbers in an embedding."))
    usage = payload.get("usage")
    count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    model = payload.get("model") if isinstance(payload.get("model"), str) else None
    return EmbeddingsAnswer(matrix, count, model, seconds)


def served_models(client: Any, timeout_s: float) -> list[str] | None:
    """Ids from GET /v1/models, or None when the server does not offer the list (TEI, some proxies)."""
    try:
        return [m.id for m in client.models.list(timeout=timeout_s)]
    except Exception:  # noqa: BLE001 - the list is optional
        return None


@dataclass(frozen=True)
class ProbeResult:
    """What the sidebar shows about a backend after one small request."""

    model_id: str
    dim: int
    latency_ms: float
    matryoshka: str  # "server", "client" (truncated here), "n/a" (no dimensions requested)
    served_models: tuple[str, ...] = ()
    dimensions_note: Message | None = None  # the requested size was more than the model has
    response_model: str | None = None  # the "model" field of the probe's embeddings answer

    @property
    def served(self) -> str | None:
        """The model that answered: the answer's own "model" field, else the one model /v1/models
        lists; None when the server names neither."""
        return self.response_model or (self.served_models[0] if len(self.served_models) == 1 else None)


class OpenAICompatibleEmbedder:
    """Client for any server speaking OpenAI's `/v1/embeddings` (sglang, vLLM, TEI, Ollama ...).

    Batches are sent concurrently (at most `max_concurrency` in flight) and reassembled in
    input order. Only transient failures (connection errors, timeouts, 408/429/5xx) are retried,
    with backoff, inside a total time budget, so a dead server fails fast and a hung one fails
    after about `timeout_s`, never after the openai client's default 600 s x 3.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 32,
        max_concurrency: int = 4,
        timeout_s: float = 30.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        if batch_size < 1 or max_concurrency < 1:
            raise ValueError("batch_size and max_concurrency must be >= 1")
        if dimensions is not None and dimensions < 1:
            raise ValueError("dimensions must be positive")
        # Shown in messages and part of the model id (the cache key): never its credentials.
        self.base_url = public_url(base_url.rstrip("/"))
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        # Total wait for one batch including retries: a hang costs one timeout plus a little.
        self.budget_s = timeout_s + min(10.0, timeout_s)
        self._client = openai_client(base_url.rstrip("/"), api_key, timeout_s)  # retries are ours: see _request
        self._lock = threading.Lock()
        self._dim: int | None = None
        # None: unknown yet; True: server honours `dimensions`; False: we truncate here.
        self.server_truncates: bool | None = None if dimensions else False
        # Set when the model turned out smaller than `dimensions` (which is then dropped).
        self.dimensions_note: Message | None = None
        self.requests_sent = 0
        self.served_model: str | None = None  # the "model" field of the latest answer (server's own text)

    @property
    def model_id(self) -> str:
        return f"{self.model}@{self.base_url}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    @property
    def matryoshka_mode(self) -> str:
        """How `dimensions` is applied: "server", "client", "unknown" or "n/a"."""
        if not self.dimensions:
            return "n/a"
        if self.server_truncates is None:
            return "unknown"
        return "server" if self.server_truncates else "client"

    # -- public --------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed texts; see the Embedder protocol. Raises EmbeddingError subclasses."""
        texts = [clean_text(t) for t in texts]
        check_texts(texts)
        n = len(texts)
        if n == 0:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        spans = batches(n, self.batch_size)
        results: list[list[np.ndarray | InputRejected] | None] = [None] * len(spans)
        done = 0
        # The first batch runs alone when we do not yet know whether the server honours
        # `dimensions`, so that the answer is learnt once rather than by every batch.
        first = 0
        if self.server_truncates is None:
            results[0] = self._embed_isolating(texts[spans[0][0] : spans[0][1]])
            done = spans[0][1]
            first = 1
            if progress:
                progress(done, n)
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = {
                pool.submit(self._embed_isolating, texts[a:b]): i
                for i, (a, b) in enumerate(spans)
                if i >= first
            }
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    done += spans[i][1] - spans[i][0]
                    if progress:
                        progress(done, n)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        rows = [row for batch in results for row in batch]  # type: ignore[union-attr]
        rejected = {i: row for i, row in enumerate(rows) if isinstance(row, InputRejected)}
        if rejected:
            raise self._rejection_summary(texts, rows, rejected)
        return np.vstack(rows)  # type: ignore[arg-type]

    def _embed_isolating(self, batch: list[str]) -> list[np.ndarray | InputRejected]:
        """Embed a batch; when the server rejects it (400), retry its texts one by one.

        One over-long text must not cost the other texts of its batch, so each text ends up
        either as its vector or as the rejection the server gave for it alone.
        """
        try:
            return list(self._embed_batch(batch))
        except InputRejected as exc:
            if len(batch) == 1 or exc.status != 400:
                if len(batch) == 1 and exc.status == 400:
                    return [exc]
                raise
        out: list[np.ndarray | InputRejected] = []
        for text in batch:
            try:
                out.append(self._embed_batch([text])[0])
            except InputRejected as exc:
                if exc.status != 400:
                    raise
                out.append(exc)
        return out

    @staticmethod
    def _rejection_summary(
        texts: list[str], rows: list[np.ndarray | InputRejected], rejected: dict[int, InputRejected]
    ) -> InputRejected:
        first = next(iter(rejected.values()))
        shown = "; ".join(
            f"#{i + 1} ({count_tokens(texts[i]):,} tokens)" for i in list(rejected)[:5]
        ) + (" ..." if len(rejected) > 5 else "")
        accepted = {i: row for i, row in enumerate(rows) if not isinstance(row, InputRejected)}
        return InputRejected(
            N_("The server rejected {n} of {total} text(s): {shown}. Server said: "
               "{said}. The other {kept} were embedded and kept. "
               "Shorten or split the rejected texts (Qwen3-Embedding accepts up to 32,768 tokens; "
               "see the Chunking page) and run again."),
            n=len(rejected), total=len(texts), shown=shown, said=first.body[:400] or first.message,
            kept=len(accepted),
            status=400,
            body=first.body,
            indices=list(rejected),
            partial=accepted,
        )

    def probe(self) -> ProbeResult:
        """One small request: model id, dimension, latency, whether `dimensions` is honoured."""
        served = tuple(served_models(self._client, min(2.0, self.timeout_s)) or ())
        start = time.perf_counter()
        vectors = self.embed(["connection test"])
        latency_ms = (time.perf_counter() - start) * 1000
        return ProbeResult(
            model_id=served[0] if len(served) == 1 else self.model,
            dim=int(vectors.shape[1]),
            latency_ms=latency_ms,
            matryoshka=self.matryoshka_mode,
            served_models=served,
            dimensions_note=self.dimensions_note,
            response_model=self.served_model,
        )

    # -- internals -----------------------------------------------------------------------
    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        """Embed one batch, learning once whether the server honours `dimensions`."""
        if self.dimensions and self.server_truncates is not False:
            try:
                raw = self._request(batch, send_dimensions=True)
            except InputRejected:
                if self.server_truncates:
                    raise
                # sglang/vLLM refuse `dimensions` unless launched as Matryoshka: retry without.
                raw = self._request(batch, send_dimensions=False)
                self.server_truncates = False
            else:
                if raw.shape[1] == self.dimensions:
                    self.server_truncates = True
                elif raw.shape[1] > self.dimensions:
                    self.server_truncates = False  # ignored silently: truncate here
        else:
            raw = self._request(batch, send_dimensions=False)
        if self.dimensions and raw.shape[1] < self.dimensions:
            self._use_full_size(raw.shape[1])
        vectors = normalize_rows(raw, self.dimensions)
        with self._lock:
            if self._dim is None:
                self._dim = vectors.shape[1]
            elif self._dim != vectors.shape[1]:
                raise BadResponse(
                    N_("The server changed dimension between calls ({before} then "
                       "{after}); was the model behind {url} replaced?"),
                    before=self._dim, after=vectors.shape[1], url=self.base_url,
                )
        return vectors

    def _use_full_size(self, full: int) -> None:
        """The model has fewer than the requested dimensions: use its full vectors from now on.

        For a model the settings do not know, the server's answer is the only bound; the first
        answer sets it (the first batch runs alone while that is unknown), and the message says so.
        """
        with self._lock:
            if self.dimensions is None or full >= self.dimensions:
                return
            self.dimensions_note = Message(
                N_("{asked} dimensions were requested, but {model} gives {full}: its full "
                   "{full}-dimensional vectors are used."),
                {"asked": self.dimensions, "model": self.model, "full": full},
            )
            self.dimensions = None
            self.server_truncates = False

    def _request(self, batch: list[str], send_dimensions: bool) -> np.ndarray:
        """POST one batch, retrying transient failures with backoff within the budget; returns the raw
        (len(batch), d) float32 matrix."""
        deadline = time.monotonic() + self.budget_s
        dimensions = self.dimensions if send_dimensions else None
        last: EmbeddingError | None = None
        for attempt in range(self.max_attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            with self._lock:
                self.requests_sent += 1
            try:
                answer = post_embeddings(self._client, self.base_url, self.model, batch, dimensions,
                                         self.timeout_s, remaining)
            except TRANSIENT as exc:
                last = exc
            else:
                if answer.model:
                    self.served_model = answer.model
                return answer.vectors
            if attempt + 1 < self.max_attempts:
                pause = self.backoff_s * (2**attempt) * (0.75 + 0.5 * random.random())
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        raise last or ServerTimeout(N_("No answer from {url} within {seconds} s."),
                                    url=self.base_url, seconds=f"{self.budget_s:.0f}")


def root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc) or type(exc).__name__
    return text[:200]


def body_text(exc: object) -> str:
    response = getattr(exc, "response", None)
    try:
        return response.text if response is not None else str(exc)
    except Exception:  # noqa: BLE001 - a streamed/closed body: fall back to the message
        return str(exc)


def make_backend(settings: Settings, timeout_s: float | None = None) -> Embedder:
    """The embedder these settings describe: the configured server (each request within `timeout_s`,
    default the configured EMBEDDING_TIMEOUT), else the in-process model."""
    if settings.backend == "server":
        assert settings.embedding_base_url
        return OpenAICompatibleEmbedder(
            base_url=settings.embedding_base_url,
            model=settings.embedding_model,
            api_key=settings.embedding_api_key,
            dimensions=settings.embedding_dimensions,
            timeout_s=settings.embedding_timeout_s if timeout_s is None else timeout_s,
        )
    from embedlab.local_model import LocalEmbedder  # it imports this module's errors and helpers

    return LocalEmbedder(
        cache_dir=settings.data_path / "models",
        local_path=settings.embedding_local_path,
        dimensions=settings.embedding_dimensions,
    )
