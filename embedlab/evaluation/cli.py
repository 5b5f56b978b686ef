"""Command line: measure retrieval quality of one configuration on a labelled set.

    python -m embedlab.evaluate --corpus C.jsonl --queries Q.jsonl [--instruction TEXT]
        [--dimensions N] [--max-tokens N] [--chunked] [--mode dense|bm25|hybrid-rrf|hybrid-weighted]
        [--precision float32|int8|binary [--rescore]] [--base-url URL --model M] --format json|table

`--bundled NAME` replaces --corpus/--queries with a set shipped in embedlab/data. Without
--base-url the settings from the environment are used (EMBEDDING_BASE_URL, or the in-process
model). Embeddings are cached in $PLAYGROUND_DATA_DIR/embeddings.sqlite unless --no-cache.
`--mode bm25` embeds nothing (no server needed). `--rescore` scores the top 100 of int8 or binary
vectors again in float32.
Exit status: 0 on success, 2 for bad input files or arguments, 3 when embedding fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from embedlab.backends import Embedder, EmbeddingError, make_backend
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.config import SettingsError, load_settings
from embedlab.evaluation.datasets import BUNDLED, LabelledSet, load_bundled, load_labelled_set
from embedlab.evaluation.grid import (
    DEFAULT_CHUNK_TOKENS,
    MODES,
    PRECISIONS,
    RESCORE_TOP,
    ConfigResult,
    EvalConfig,
    run_grid,
)
from embedlab.evaluation.metrics import METRICS
from embedlab.evaluation.report import result_json
from embedlab.instructions import load_library
from embedlab.served import served_model_of


def _bundled_keys() -> dict[str, str]:
    """Short names for the bundled sets (their file stems) -> the display names."""
    return {files[0].split(".")[0]: name for name, files in BUNDLED.items()}


def _bundled_name(value: str) -> str:
    if value in BUNDLED:
        return value
    keys = _bundled_keys()
    if value in keys:
        return keys[value]
    raise argparse.ArgumentTypeError(f"unknown set {value!r}; choose from {', '.join(keys)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m embedlab.evaluate",
        description="Recall@1/5/10, MRR@10 and nDCG@10 (MTEB definitions) of one retrieval set-up.",
    )
    source = parser.add_argument_group("labelled set")
    source.add_argument("--corpus", type=Path, help='JSONL, one {"id", "text"} per line')
    source.add_argument("--queries", type=Path, help='JSONL, one {"id", "text", "relevant"} per line')
    source.add_argument(
        "--bundled", type=_bundled_name, metavar="NAME",
        help="a set shipped with the app: " + ", ".join(_bundled_keys()),
    )
    parser.add_argument("--instruction", default="",
                        help="task description for queries, or the name of an instruction in the library")
    parser.add_argument("--dimensions", type=int, help="Matryoshka size (truncate and re-normalise)")
    parser.add_argument("--max-tokens", type=int, help="truncate every input to this many tokens")
    parser.add_argument("--chunked", action="store_true", help="score documents by their best chunk")
    parser.add_argument("--chunk-tokens", type=int, default=DEFAULT_CHUNK_TOKENS)
    parser.add_argument("--mode", choices=MODES, default="dense",
                        help="dense embeddings, BM25 keywords, or both fused (RRF k=60 / weighted)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="vector precision: float32, int8 (scalar) or binary (sign)")
    parser.add_argument("--rescore", action="store_true",
                        help=f"rescore the top {RESCORE_TOP} in float32 (int8/binary)")
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:30000/v1")
    parser.add_argument("--model", help="model name sent to the server")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument("--format", choices=("json", "table"), default="table")
    return parser


def _embedder(args: argparse.Namespace) -> Embedder:
    settings = load_settings()
    # The CLI truncates to --dimensions itself (a grid axis), so the backend gives full vectors.
    changes: dict = {"embedding_model": args.model or settings.embedding_model, "embedding_dimensions": None}
    if args.base_url:  # another server: the configured key is not sent to it
        changes.update(embedding_base_url=args.base_url, embedding_api_key=args.api_key)
    elif args.api_key:
        changes["embedding_api_key"] = args.api_key
    settings = replace(settings, **changes)
    inner = make_backend(settings)
    if args.no_cache:
        return inner
    return CachedEmbedder(inner, EmbeddingCache(settings.data_path / "embeddings.sqlite"))


def _instruction(text: str) -> tuple[str, str]:
    """(name, task): a library name is looked up, anything else is the task itself."""
    if not text.strip():
        return "none", ""
    try:
        found = load_library(load_settings().data_path).get(text.strip())
    except (OSError, ValueError):
        found = None
    return (found.name, found.task) if found else ("custom", text)


def _table(result: ConfigResult, dataset: LabelledSet) -> str:
    lines = [
        f"set: {dataset.name} ({len(dataset.documents)} documents, {len(dataset.queries)} queries)",
        f"configuration: {result.config.label} · vectors: {_size_line(result)}",
        "",
        f"{'metric':<10} {'mean':>7}",
        *(f"{m:<10} {result.metrics[m]:>7.4f}" for m in METRICS),
        "",
        f"{'query':<16} " + " ".join(f"{m:>9}" for m in METRICS),
        *(
            f"{qid[:16]:<16} " + " ".join(f"{values[m]:>9.4f}" for m in METRICS)
            for qid, values in result.per_query.items()
        ),
    ]
    return "\n".join(lines)


def _size_line(result: ConfigResult) -> str:
    if result.bytes_per_vector is None:
        return "none (BM25)"
    return f"{result.bytes_per_vector:,} bytes each, {result.store_gb_per_million:.3f} GB per 1M"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.bundled and (args.corpus or args.queries):
        parser.error("use either --bundled or --corpus/--queries")
    if not args.bundled and not (args.corpus and args.queries):
        parser.error("--corpus and --queries are both required (or --bundled NAME)")
    for name in ("dimensions", "max_tokens", "chunk_tokens"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    try:
        if args.bundled:
            dataset = load_bundled(args.bundled)
        else:
            dataset = load_labelled_set(args.corpus.read_bytes(), args.queries.read_bytes(), name=args.corpus.stem)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rescore and args.precision == "float32":
        parser.error("--rescore applies to --precision int8 or binary")
    if args.mode == "bm25" and (args.precision != "float32" or args.dimensions or args.instruction.strip()):
        parser.error("--mode bm25 uses no vectors or instruction: drop --precision, --dimensions, --instruction")
    name, task = _instruction(args.instruction)
    config = EvalConfig(task, name, args.max_tokens, args.dimensions, args.chunked, args.chunk_tokens,
                        args.mode, args.precision, args.rescore).canonical()
    try:
        embedder = _embedder(args) if config.uses_vectors else None  # BM25 asks no server anything
        [result] = run_grid(dataset, [config], embedder)
    except SettingsError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    except EmbeddingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except ValueError as exc:  # e.g. more dimensions than the model has
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        payload = {"dataset": dataset.name, "model": getattr(embedder, "model_id", ""),
                   "served_model": served_model_of(embedder) if embedder is not None else None,
                   **result_json(result)}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(_table(result, dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
