"""Which model answered, and whether it is Qwen3-Embedding-0.6B.

The configured name is only what the app asks for: the server's answers name the model that
answered (the "model" field, GET /v1/models), and only the model card's example scores
(servercheck.checks.check_identity) tell whether its vectors are Qwen3-Embedding-0.6B's. `assess`
sums both up in one verdict, for the banner of every page, the captions and the exports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from embedlab.servercheck.report import CheckResult

REFERENCE_MODEL = "Qwen3-Embedding-0.6B"
_REFERENCE_KEY = "qwen3embedding06b"
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

Kind = Literal["ok", "mismatch", "identity", "other"]


def _key(name: str) -> str:
    """A model name without organisation prefix, case and punctuation ("Qwen/Qwen3-Embedding-0.6B" ->
    "qwen3embedding06b"), so that one model served under its usual spellings compares equal."""
    return _NOT_ALNUM.sub("", name.strip().rsplit("/", 1)[-1].lower())


def is_reference(name: str | None) -> bool:
    """Whether a model name denotes Qwen3-Embedding-0.6B (any organisation prefix, case, spelling
    such as Ollama's "qwen3-embedding:0.6b", or a quantised build's suffix)."""
    return bool(name) and _REFERENCE_KEY in _NOT_ALNUM.sub("", name.lower())


def same_model(configured: str, served: str) -> bool:
    """Whether the served name is the configured model (spelling aside)."""
    return _key(configured) == _key(served) or (is_reference(configured) and is_reference(served))


@dataclass(frozen=True)
class Verdict:
    """What the app knows about the model behind its connection.

    kind:
        "ok": nothing says the figures are not the configured Qwen3-Embedding-0.6B's;
        "mismatch": the server answers with another model than the configured one;
        "identity": the served name is right (or unknown) but the model card's scores are not reproduced;
        "other": another model than Qwen3-Embedding-0.6B is configured, and served as configured.
    """

    kind: Kind
    configured: str
    served: str | None  # the server's own text: show it literally
    identity: CheckResult | None  # None: not run (another model, a mismatch, or no answer)

    @property
    def warns(self) -> bool:
        """Whether the pages must say that their figures are not Qwen3-Embedding-0.6B's."""
        return self.kind != "ok"


def needs_identity(configured: str, served: str | None) -> bool:
    """Whether the model card's check can tell anything more: only when Qwen3-Embedding-0.6B is
    configured and the server does not already answer with another model."""
    return is_reference(configured) and (served is None or same_model(configured, served))


def assess(configured: str, served: str | None, identity: CheckResult | None = None) -> Verdict:
    """The verdict for a configured model name, the served one (None: the server did not say) and
    the identity check's result (None: not run or inconclusive)."""
    if served and not same_model(configured, served):
        kind: Kind = "mismatch"
    elif not is_reference(configured):
        kind = "other"
    elif identity is not None and identity.status == "fail":
        kind = "identity"
    else:
        kind = "ok"
    return Verdict(kind, configured, served, identity)


def identity_check(base_url: str, model: str, api_key: str | None = None, timeout_s: float = 4.0) -> CheckResult | None:
    """The server check's identity check (five one-text requests, each within `timeout_s`); None when
    it was inconclusive (the server could not be reached or refused the requests), so that a
    passing failure is not taken for a verdict about the model."""
    # Imported here: every page draws the verdict, only a Qwen3-Embedding connection runs the check.
    from embedlab.servercheck.checks import check_identity
    from embedlab.servercheck.client import CheckClient

    client = CheckClient(base_url, model, api_key, timeout_s=timeout_s, connect_timeout_s=min(3.0, timeout_s))
    try:
        result = check_identity(client)
    finally:
        client.close()
    return None if "error" in result.evidence else result


def served_model_of(embedder: object) -> str | None:
    """The model that answered `embedder`'s requests; when none was sent (every text came from the
    cache), what the server says now (one small request). None when the server does not say."""
    name = getattr(embedder, "served_model", None)
    if name:
        return name
    from embedlab.backends import EmbeddingError, OpenAICompatibleEmbedder

    inner = getattr(embedder, "inner", embedder)
    if not isinstance(inner, OpenAICompatibleEmbedder):
        return None
    try:
        return inner.probe().served
    except EmbeddingError:
        return None


def with_models(frame: pd.DataFrame, configured: str, served: str | None) -> pd.DataFrame:
    """`frame` with the configured and the served model as its first two columns (for CSV exports)."""
    out = frame.copy()
    out.insert(0, "served_model", served or "")
    out.insert(0, "configured_model", configured)
    return out
