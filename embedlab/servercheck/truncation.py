"""The truncation probe: where does a server stop reading long inputs?

Prefixes of one long text (built from the bundled corpora) at exact Qwen token counts, doubling up
to the model's context; the same input twice gives the noise floor. The interval where the vector
stops changing, or where the server starts refusing, is bisected to the token; and a text with its
first half replaced shows a server that keeps only the end.
"""

from __future__ import annotations

import functools
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedlab import tokens
from embedlab.backends import BadResponse, InputRejected, ServerTimeout
from embedlab.chunking import SAMPLES, load_sample_document
from embedlab.evaluation.datasets import BUNDLED, load_bundled
from embedlab.messages import N_, Message
from embedlab.servercheck.checks import guarded, one_minus_cos
from embedlab.servercheck.client import CheckClient
from embedlab.servercheck.reference import MODEL_CONTEXT
from embedlab.servercheck.report import CheckResult, outcome

DEFAULT_PROBE_BUDGET_S = 20.0  # the truncation probe's share of a run (about 25 s on the CPU stand-in)
ANSWER_NOTES = {"noise": " (again: noise)", "first-half": " (first half replaced)"}
# How each kind of probe request went, as the page shows it.
PROBE_ANSWERS = {"embedded": N_("embedded"), "noise": N_("embedded (again: noise)"),
                 "first-half": N_("embedded (first half replaced)"), "refused": N_("refused (HTTP {status})")}
SAME_FLOOR = 1e-5  # 1 - cos below this (or 10x the measured noise) counts as "the same vector"


@functools.lru_cache(maxsize=1)
def long_text() -> tuple[str, np.ndarray]:
    """The probe text (NFC) and each token's start offset: > MODEL_CONTEXT Qwen tokens.

    Built from the bundled chunking samples and labelled corpora, repeated in numbered parts.
    """
    pieces = [load_sample_document(title) for title in SAMPLES]
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
    text, starts = long_text()
    return text if n_tokens >= len(starts) else text[: int(starts[n_tokens])]


class Probe:
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
        """The vector of prefix(n) (or of `text`), None when the server refuses it as too long.

        Each evidence row says what was sent and how it went: "answer" in English (the exports),
        "kind" for the page ("embedded", "noise", "first-half", "refused", with "status").
        """
        text = prefix(n) if text is None else text
        exact = tokens.count_tokens(text)
        t0 = time.perf_counter()
        try:
            answer = self.client.embed([text])
        except InputRejected as exc:
            if exc.status not in (400, 413, 422):
                raise
            self.refused_status = exc.status
            self.rows.append(dict(tokens=exact, answer=f"refused (HTTP {exc.status})", kind="refused",
                                  status=exc.status, change=None, seconds=time.perf_counter() - t0,
                                  server_said=exc.body[:200]))
            return None
        self.rate = answer.seconds / max(exact, 1)
        self.rows.append(dict(tokens=exact, answer="embedded" + ANSWER_NOTES.get(note, ""), kind=note or "embedded",
                              change=None, seconds=answer.seconds))
        return answer.vectors[0]

    def noise_floor(self, n: int) -> float:
        """1 - cos of prefix(n) sent twice (GPUs are not bit-exact between calls); keeps the first
        vector under `n`. 0.0 when the server refuses that length."""
        first = self.send(n)
        if first is None:
            return 0.0
        again = self.send(n, note="noise")
        noise = self.change(again, first) if again is not None else 0.0
        self.vectors[n] = first
        return noise

    def change(self, vector: np.ndarray, other: np.ndarray) -> float:
        """1 - cos, also written into the latest evidence row."""
        value = max(0.0, one_minus_cos(vector, other))
        self.rows[-1]["change"] = value
        return value


@dataclass
class Climb:
    """Where doubling the length stopped. outcome: "full" (every length read), "budget" (the next
    one would not fit the time budget), "error" (it timed out or failed), "refused" or "truncated";
    reached: the longest length whose vector still changed; plateau / refusal: the (lo, hi) tokens
    between which the vector stopped changing / the server started refusing."""

    outcome: str = "full"
    reached: int = 0
    stop_error: str = ""
    plateau: tuple[int, int] | None = None
    refusal: tuple[int, int] | None = None


@guarded("truncation")
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
    probe = Probe(client, budget_s)
    noise = probe.noise_floor(start)
    tol = max(10 * noise, SAME_FLOOR)
    climb = _climb(probe, lengths, tol)
    if climb.plateau:  # smallest length whose vector equals the truncated one = tokens actually read
        climb.plateau = _bisect_plateau(probe, climb.plateau, tol, max_bisect)
    if climb.refusal:  # longest accepted length
        climb.refusal = _bisect_refusal(probe, climb.refusal, max_bisect)
    left_truncated = (climb.outcome in ("full", "budget", "error") and climb.reached >= 2 * start
                      and _drops_beginning(probe, climb.reached, tol))
    evidence: dict[str, Any] = dict(model_context=context, longest_probe=top, noise=noise, same_threshold=tol,
                                    budget_s=budget_s, outcome=climb.outcome, probes=probe.rows)
    return _truncation_verdict(evidence, context, climb, left_truncated, probe.refused_status)


def _climb(probe: Probe, lengths: list[int], tol: float) -> Climb:
    """Double the length until one is refused, changes nothing, fails, or may not fit the budget."""
    start = lengths[0]
    climb = Climb(reached=start)
    if start not in probe.vectors:  # the shortest length was refused
        climb.outcome, climb.refusal = "refused", (0, start)
        return climb
    for previous, n in zip(lengths, lengths[1:], strict=False):
        if not probe.fits(n, copies=2):  # this length and, later, its left-truncation request
            climb.outcome = "budget"
            break
        try:
            v = probe.send(n)
        except (ServerTimeout, BadResponse) as exc:
            climb.outcome, climb.stop_error = "error", str(exc)
            break
        if v is None:
            climb.outcome, climb.refusal = "refused", (previous, n)
            break
        probe.vectors[n] = v
        if probe.change(v, probe.vectors[previous]) <= tol:
            # Nothing after `previous` tokens was read, but what came before `previous` was.
            before = lengths[lengths.index(previous) - 1] if previous > start else 0
            climb.outcome, climb.plateau = "truncated", (before, previous)
            break
        climb.reached = n
    return climb


def _bisect_plateau(probe: Probe, plateau: tuple[int, int], tol: float, max_steps: int) -> tuple[int, int]:
    """Narrow (lo, hi) to the smallest length whose vector equals the one at plateau[1]."""
    lo, hi = plateau
    steps = 0
    while hi - lo > 1 and steps < max_steps and probe.fits(hi):
        mid, steps = (lo + hi) // 2, steps + 1
        v = probe.send(mid)
        if v is not None and probe.change(v, probe.vectors[plateau[1]]) <= tol:
            hi = mid
        else:
            lo = mid
    return lo, hi


def _bisect_refusal(probe: Probe, refusal: tuple[int, int], max_steps: int) -> tuple[int, int]:
    """Narrow (lo, hi) to the longest accepted length lo and the shortest refused one hi."""
    lo, hi = refusal
    steps = 0
    while hi - lo > 1 and steps < max_steps and probe.fits((lo + hi) // 2):
        mid, steps = (lo + hi) // 2, steps + 1
        try:
            accepted = probe.send(mid) is not None
        except (ServerTimeout, BadResponse):
            break
        lo, hi = (mid, hi) if accepted else (lo, mid)
    return lo, hi


def _drops_beginning(probe: Probe, reached: int, tol: float) -> bool:
    """Same ending, different beginning: an identical vector means the beginning was dropped."""
    text, starts = long_text()
    tail = text[int(starts[reached // 2]): int(starts[reached])]
    try:
        v = probe.send(reached, tokens.truncate(tail, reached // 2 - 4) + tail, note="first-half")
    except (ServerTimeout, BadResponse):
        return False
    return v is not None and probe.change(v, probe.vectors[reached]) <= tol


def _truncation_verdict(evidence: dict[str, Any], context: int, climb: Climb, left_truncated: bool,
                        refused_status: int | None) -> CheckResult:
    reached, plateau, refusal, stop_error = climb.reached, climb.plateau, climb.refusal, climb.stop_error
    raise_context = ("vLLM `--max-model-len 32768`, sglang `--context-length 32768`, Ollama "
                     "`OLLAMA_CONTEXT_LENGTH` / `num_ctx`")
    if left_truncated:
        evidence.update(outcome="left-truncated", effective_context=None)
        return outcome("truncation", "fail", Message(N_(
            "The server silently drops the beginning of long inputs: a {n}-token text with its first half replaced "
            "gives the same vector (it keeps only the end)."), {"n": f"{reached:,}"}),
                       Message(N_("Remove the server-side truncation (a per-request option such as vLLM's "
                                  "`truncate_prompt_tokens`, TEI's `--auto-truncate` with left truncation) or raise "
                                  "its context; chunk long documents (Chunking page).")), **evidence)
    if plateau:
        effective = tokens.count_tokens(prefix(plateau[1]))
        evidence.update(effective_context=effective)
        return outcome("truncation", "fail", Message(N_(
            "The server silently truncates inputs to about {n} tokens (+1 end-of-text): text beyond that changes "
            "nothing, and no error is returned. The model accepts {context}."),
            {"n": f"{effective:,}", "context": f"{context:,}"}),
                       Message(N_("Raise the server's context ({how}) or stop it truncating (launch TEI without "
                                  "`--auto-truncate`; Ollama's embed API takes {option}) so over-long inputs fail "
                                  "loudly; chunk long documents (Chunking page)."),
                               {"how": raise_context, "option": '`"truncate": false`'}), **evidence)
    if refusal:
        effective = tokens.count_tokens(prefix(refusal[0])) if refusal[0] else 0
        evidence.update(effective_context=effective, refused_from=tokens.count_tokens(prefix(refusal[1])))
        if effective + 8 >= context - 1:
            return outcome("truncation", "pass", Message(N_(
                "The server reads the full context: {n} tokens (+1 end-of-text) are embedded, longer inputs are "
                "refused with an error."), {"n": f"{effective:,}"}), **evidence)
        return outcome("truncation", "warn", Message(N_(
            "The server refuses inputs longer than about {n} tokens (HTTP {status}), although the model accepts "
            "{context}; it fails loudly, without silent truncation."),
            {"n": f"{effective:,}", "status": refused_status, "context": f"{context:,}"}),
                       Message(N_("If you need longer inputs, raise the server's context ({how}); otherwise chunk "
                                  "long documents (Chunking page) below this length."), {"how": raise_context}),
                       **evidence)
    effective = tokens.count_tokens(prefix(reached))
    evidence.update(effective_context=effective)
    if evidence["outcome"] == "full":
        return outcome("truncation", "pass", Message(N_(
            "The server reads the full context: the vector still changes at {n} tokens (+1 end-of-text = "
            "{context}); no silent truncation."), {"n": f"{effective:,}", "context": f"{context:,}"}), **evidence)
    if evidence["outcome"] == "budget":
        return outcome("truncation", "warn", Message(N_(
            "No truncation up to {n} tokens (the vector still changes); longer inputs were not tried within the "
            "{budget} s budget of this probe."), {"n": f"{effective:,}", "budget": f"{evidence['budget_s']:.0f}"}),
                       Message(N_("The server is too slow to probe all 32,768 tokens in this time; run {command} to "
                                  "measure further."),
                               {"command": "`python -m embedlab.check --only truncation --probe-budget 300`"}),
                       **evidence)
    return outcome("truncation", "warn", Message(N_(
        "No truncation up to {n} tokens, but the next, longer input failed: {error}."),
        {"n": f"{effective:,}", "error": stop_error.split(". ")[0]}),
                   Message(N_("Long inputs time out or crash the server: check its log and memory, or chunk long "
                              "documents (Chunking page) below {n} tokens."), {"n": f"{effective:,}"}),
                   error=stop_error, **evidence)
