"""Command line: results, exports and qrels imports of the Judge page's experiments.

    python -m embedlab.judge report --collection NAME [--experiment ID] [--data-dir D]
        [--grades people|llm|RATER] [--a A --b B] [--metric precision|strict_precision|ndcg|mrr]
        --format json|table
    python -m embedlab.judge export --collection NAME [--experiment ID] [--data-dir D]
        [--grades ...] --format trec|jsonl [--out DIR]
    python -m embedlab.judge import --collection NAME --qrels FILE [--rater NAME] [--experiment ID]

The experiment is the collection's newest unless --experiment names one. `export --format trec`
writes NAME.qrels and NAME.runs (one run per configuration, tagged A..D); `--format jsonl` writes
NAME.corpus.jsonl and NAME.queries.jsonl, a labelled set that `python -m embedlab.evaluate
--corpus ... --queries ...` and the Evaluate page read as they are. Files are written atomically.
The data directory is --data-dir, else PLAYGROUND_DATA_DIR (default ./data).
Exit status: 0 on success, 2 for bad arguments, a missing experiment or a malformed qrels file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab.config import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m embedlab.judge",
                                     description="Results and exports of pooled relevance judgments.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--collection", required=True, help="the judged collection")
        p.add_argument("--experiment", type=int, help="experiment id (default: the collection's newest)")
        p.add_argument("--data-dir", type=Path, help="data directory (default: PLAYGROUND_DATA_DIR or ./data)")

    rep = sub.add_parser("report", help="P@k, nDCG@k, MRR, coverage, A vs B verdict, agreement")
    common(rep)
    rep.add_argument("--grades", default=jd.PEOPLE,
                     help="whose grades: people (median of every person, default), llm, or one rater's name")
    rep.add_argument("--a", default="A", help="configuration A of the comparison (letter)")
    rep.add_argument("--b", default="B", help="configuration B of the comparison (letter)")
    rep.add_argument("--metric", choices=jm.METRICS, default=jm.MAIN_METRIC)
    rep.add_argument("--format", choices=("json", "table"), default="table")

    exp = sub.add_parser("export", help="TREC qrels + runs, or a labelled set (corpus + queries JSONL)")
    common(exp)
    exp.add_argument("--grades", default=jd.PEOPLE)
    exp.add_argument("--format", choices=("trec", "jsonl"), required=True)
    exp.add_argument("--out", type=Path, default=Path("."), help="directory to write to (default: .)")

    imp = sub.add_parser("import", help="grades from a TREC qrels file, as one rater")
    common(imp)
    imp.add_argument("--qrels", type=Path, required=True)
    imp.add_argument("--rater", default="qrels import", help="the rater name the grades are kept under")
    return parser


def _data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir if args.data_dir else load_settings().data_path


def _experiment(store: jd.JudgmentStore, args: argparse.Namespace) -> jd.Experiment:
    if args.experiment is not None:
        exp = store.experiment(args.experiment)
        if exp.collection != args.collection:
            raise jd.JudgeError(f"Experiment #{exp.id} belongs to {exp.collection!r}, not {args.collection!r}.")
        return exp
    found = store.experiments(args.collection)
    if not found:
        raise jd.JudgeError(f"No experiment on {args.collection!r} in {store.path}: build one on the Judge page.")
    return found[0]


def _letter(value: str, exp: jd.Experiment) -> int:
    letters = jd.CONFIG_NAMES[: len(exp.configs)]
    if value.upper() not in letters:
        raise jd.JudgeError(f"Configuration {value!r} is not in this experiment ({', '.join(letters)}).")
    return letters.index(value.upper())


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _table(payload: dict) -> str:
    k = payload["experiment"]["k"]
    lines = [f"collection: {payload['collection']} · experiment #{payload['experiment']['id']} "
             f"{payload['experiment']['name']} · k = {k} · grades from: {payload['grades_from']}",
             f"judged queries: {payload['judged_queries']} of {payload['queries']}", ""]
    names = [jm.metric_label(m, k) for m in jm.METRICS] + [f"judged-coverage@{k}"]
    header = f"{'':<3}{'instruction':<24}{'input length':<18}{'dimensions':<12}{'mode':<18}" + "".join(
        f"{n:>17}" for n in names)
    lines.append(header)
    for c in payload["configurations"]:
        mode = c["mode"] + (" + rerank" if c["rerank"] else "")
        length = f"<={c['input_length']} tokens" if c["input_length"] else "full length"
        dims = "n/a" if c["mode"] == "bm25" else (f"{c['dimensions']} d" if c["dimensions"] else "full")
        lines.append(f"{c['name']:<3}{c['instruction'][:23]:<24}{length:<18}{dims:<12}{mode:<18}"
                     + "".join(f"{c[n]:>17.4f}" for n in names) + ("  (low coverage)" if c["low_coverage"] else ""))
    lines += ["", *payload["coverage_warnings"]]
    if "comparison" in payload:
        lines += ["", payload["comparison"]["verdict"]]
    lines += ["", "agreement: " + payload["agreement"]["summary"]]
    for p in payload["agreement"]["pairs"]:
        value = p["Cohen's kappa"]
        kappa = "undefined" if value is None else f"{value:.3f}"
        lines.append(f"  {p['rater A']} vs {p['rater B']}: {p['pairs both graded']} pairs, same grade "
                     f"{p['same grade']}, Cohen's kappa {kappa} ({p['reading']})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        store = jd.JudgmentStore.in_data_dir(_data_dir(args))
        exp = _experiment(store, args)
        if args.command == "import":
            parsed = jd.parse_qrels(args.qrels.read_bytes(), exp, set(store.chunk_texts(exp.collection)))
            rater = jd.validate_rater(args.rater)
            store.import_grades(exp.collection, parsed.rows, rater)
            print(f"imported {len(parsed.rows)} grade(s) as {rater!r}; left out {parsed.unknown_queries} line(s) of "
                  f"other queries and {parsed.unknown_chunks} of chunks never pooled in {exp.collection!r}")
            return 0
        judgments = store.judgments(exp.collection, exp.queries)
        grades = jd.select_grades(judgments, args.grades)
        if args.command == "export":
            name = exp.collection  # collection names are safe file names (letters, digits, . _ -)
            if args.format == "trec":
                written = {args.out / f"{name}.qrels": "".join(jd.qrels_lines(exp, grades)),
                           args.out / f"{name}.runs": "".join(jd.run_lines(exp, store.runs(exp.id)))}
            else:
                labelled = jd.labelled_set(exp, grades, store.chunk_texts(exp.collection))
                if not labelled.query_count:
                    raise jd.JudgeError("No judged query has a relevant chunk (grade >= 1): nothing to export.")
                written = {args.out / f"{name}.corpus.jsonl": labelled.corpus,
                           args.out / f"{name}.queries.jsonl": labelled.queries}
                if labelled.dropped:
                    print(f"left out {len(labelled.dropped)} judged query/queries without a relevant chunk",
                          file=sys.stderr)
            for path, text in written.items():
                _atomic_write(path, text)
                print(path)
            return 0
        results = jm.score(exp, store.runs(exp.id), grades, args.grades)
        payload = jm.report(results, judgments, _letter(args.a, exp), _letter(args.b, exp), args.metric)
    except (jd.JudgeError, SettingsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(_table(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
