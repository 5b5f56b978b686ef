"""Chunking speed: tokenize, chunk and build the coloured view for a 50,000-token document.

Usage: python -m bench.chunking_speed [--tokens 50000] [--size 512] [--overlap 64] [--rounds 3]
The document is the bundled English or Chinese policy sample repeated (numbered) to the length.
Target: tokenize + chunk + view under 2 s for each strategy.
"""

from __future__ import annotations

import argparse
import statistics
import time

from embedlab import chunking, chunkview, tokens

TARGET_S = 2.0


def long_document(min_tokens: int, sample: int = 0) -> str:
    """A bundled sample repeated, each copy with its own part number, to at least `min_tokens`."""
    base = chunking.load_sample_document(list(chunking.SAMPLES)[sample])
    parts, total, k = [], 0, 0
    while total < min_tokens:
        k += 1
        part = f"# Part {k}\n\n{base}\n\n"
        parts.append(part)
        total += tokens.count_tokens(part)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    tokens.encode("warm up")
    print(f"tokenizer load (once per process): {time.perf_counter() - start:.3f} s")
    ok = True
    for lang, sample in (("English", 0), ("Chinese", 1)):
        text = long_document(args.tokens, sample)
        rows: dict[str, list[float]] = {}
        n_tokens = 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            index = chunking.TokenIndex(text)
            t_tok = time.perf_counter() - t0
            n_tokens = index.n_tokens
            for strategy in chunking.STRATEGIES:
                t1 = time.perf_counter()
                chunks = chunking.chunk_text(text, strategy, args.size, args.overlap, index=index)
                t2 = time.perf_counter()
                chunkview.chunk_html(text, chunks, index.marks(), selected=len(chunks) // 2)
                t3 = time.perf_counter()
                rows.setdefault(strategy, []).append(t_tok + (t2 - t1) + (t3 - t2))
                rows.setdefault(f"{strategy}:parts", []).append((t_tok, t2 - t1, t3 - t2, len(chunks)))
        print(f"\n{lang}: {n_tokens:,} tokens, {len(text):,} characters, chunks of {args.size} with overlap "
              f"{args.overlap}, median of {args.rounds}")
        print(f"{'strategy':10s} {'chunks':>7s} {'tokenize':>9s} {'chunk':>8s} {'view':>8s} {'total':>8s}")
        for strategy in chunking.STRATEGIES:
            total = statistics.median(rows[strategy])
            parts = rows[f"{strategy}:parts"]
            tok, chk, view = (statistics.median(p[i] for p in parts) for i in range(3))
            ok &= total < TARGET_S
            print(f"{strategy:10s} {parts[0][3]:7d} {tok:8.3f}s {chk:7.3f}s {view:7.3f}s {total:7.3f}s")
    print(f"\ntarget: tokenize + chunk + view < {TARGET_S:.0f} s per strategy: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
