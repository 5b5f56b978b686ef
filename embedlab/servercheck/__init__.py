"""Server check: does the configured server really serve Qwen3-Embedding correctly?

A server can answer every request and still return wrong vectors (wrong pooling, no end-of-text
token, padding bugs, silent truncation, `dimensions` ignored, another model behind the name).
Each check measures one of these properties against the server itself (never through the
embedding cache) and reports pass / warn / fail with its evidence:

    server       connection, served model list, latency of one request (always runs first)
    identity     the model card's 2x2 example and the "hello world" vector of Qwen3-Embedding-0.6B
    batch        a short text alone vs in a batch with a much longer one (padding / pooling bugs)
    truncation   growing prefixes of a long text: where the vector stops changing or is refused
    matryoshka   whether `dimensions` is honoured, and as truncate-and-renormalise
    instruction  the instruction template reaches the model and does not hurt retrieval
    tokens       the server's usage.prompt_tokens vs the exact Qwen tokenizer count
    rerank       known-answer cases for the reranker (when one is configured)

`run_checks` runs them in order, reports progress, and skips the rest when the server cannot be
reached. No check raises: backend errors become a fail with a message a user can act on. The
modules: `reference` (the published facts), `client` (raw requests), `checks` and `truncation`
(the checks), `report` (results and exports), `cli` (`python -m embedlab.check`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from embedlab.config import public_url
from embedlab.messages import N_, Message
from embedlab.servercheck.checks import (
    check_batch,
    check_identity,
    check_instruction,
    check_matryoshka,
    check_rerank,
    check_server,
    check_tokens,
)
from embedlab.servercheck.client import DEFAULT_TIMEOUT_S, CheckClient
from embedlab.servercheck.report import CHECKS, CheckResult, Report, outcome
from embedlab.servercheck.truncation import DEFAULT_PROBE_BUDGET_S, check_truncation

ProgressCallback = Callable[[int, int, str], None]
"""Called as progress(done, total, title): before each check with the title of the check about to
run (done = checks finished so far), and once at the end as progress(total, total, "")."""


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
                result = outcome(check_id, "skip", Message(N_("Not run: the connection check failed.")))
            else:
                result = runners[check_id]()
            report.results.append(result)
    finally:
        client.close()
        report.seconds = time.perf_counter() - started
    if progress:
        progress(len(order), len(order), "")
    return report
