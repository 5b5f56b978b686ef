"""The server check's results: one CheckResult per check, the Report of a run and its exports
(JSON, Markdown for a ticket, table rows). The API key is never stored in a Report; URLs are kept
without credentials."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from embedlab.messages import N_, Message
from embedlab.servercheck.reference import (
    HELLO_HEAD,
    REFERENCE_DOCUMENTS,
    REFERENCE_QUERIES,
    REFERENCE_SCORES,
    VLLM_SCORES,
)

Status = Literal["pass", "warn", "fail", "skip"]

# Ids and titles (English msgids, translated where shown) in run order. "server" always runs
# first: it is the connection test.
CHECKS: dict[str, str] = {
    "server": N_("Connection, served models and latency"),
    "identity": N_("Identity against the published reference"),
    "batch": N_("Batch invariance (padding / pooling)"),
    "truncation": N_("Truncation probe (effective context)"),
    "matryoshka": N_("Matryoshka dimensions"),
    "instruction": N_("Instruction effect"),
    "tokens": N_("Token count agreement"),
    "rerank": N_("Reranker sanity"),
}


@dataclass
class CheckResult:
    """The outcome of one check.

    verdict: one plain-English line; action: what to do when the status is not "pass";
    evidence: JSON-serialisable measurements (matrices as nested lists, cosines, token counts).
    verdict_message, action_message: the same texts as Messages, which the page shows in the
    user's language (the exports and the command line use the English strings).
    """

    id: str
    title: str
    status: Status
    verdict: str
    action: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    verdict_message: Message | None = field(default=None, compare=False)
    action_message: Message | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["verdict_message"], out["action_message"]
        return out

    @property
    def shown_verdict(self) -> Message:
        """The verdict as a Message (an English-only verdict becomes a message of its own text)."""
        return self.verdict_message or Message(self.verdict)

    @property
    def shown_action(self) -> Message | None:
        """What to do, as a Message; None when there is nothing to say."""
        if self.action_message is not None:
            return self.action_message
        return Message(self.action) if self.action else None


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
    def served_model(self) -> str | None:
        """The model the server said answered (its answers' "model" field, else the one model it lists)."""
        evidence = self.result("server").evidence if self.result("server") else {}
        listed = evidence.get("served_models") or []
        return evidence.get("response_model") or (listed[0] if len(listed) == 1 else None)

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
            "served_model": self.served_model,
            "rerank_base_url": self.rerank_base_url,
            "rerank_model": self.rerank_model,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "counts": self.counts,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(jsonable(self.to_dict()), ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        """A report to paste into a ticket: summary table, then each check with its evidence."""
        c = self.counts
        lines = [
            "# Server check: Qwen3-Embedding",
            "",
            f"- Server: `{self.base_url}`, model `{self.model}`",
            f"- Served model: `{self.served_model or 'not named by the server'}`",
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


def jsonable(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, floats rounded to 6 decimals."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
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
                  json.dumps(jsonable(ev), ensure_ascii=False, indent=1), "```", "", "</details>"]
    return lines


def outcome(check_id: str, status: Status, verdict: Message, action: Message | None = None,
            **evidence: Any) -> CheckResult:
    """The result of check `check_id` (titled from CHECKS), its evidence made JSON-serialisable;
    the verdict and action are kept as Messages and as their English text."""
    return CheckResult(check_id, CHECKS[check_id], status, str(verdict), str(action) if action else "",
                       jsonable(evidence), verdict_message=verdict, action_message=action)
