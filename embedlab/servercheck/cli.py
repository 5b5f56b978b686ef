"""Command line of the server check: the report as a table, JSON or Markdown, and an exit status.

    python -m embedlab.check [--base-url URL --model M] [--only identity,batch] --format json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from embedlab.config import SettingsError, load_settings
from embedlab.servercheck import run_checks, select
from embedlab.servercheck.client import DEFAULT_TIMEOUT_S
from embedlab.servercheck.report import CHECKS, Report
from embedlab.servercheck.truncation import DEFAULT_PROBE_BUDGET_S

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
