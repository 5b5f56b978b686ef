"""A small HR collection and a deterministic stand-in model for retrieval tests: a text's vector is the normalised sum of
seeded random vectors of its words, so texts sharing words are similar."""

from __future__ import annotations

import hashlib
import re

import numpy as np

HR_TASK = "Given an employee's question, retrieve HR policy passages"
HR_CHUNKS = [  # (source, text) of a small HR collection
    ("leave.md", "Annual leave is ten days per year for permanent staff."),
    ("leave.md", "Unused annual leave days can be carried over until the end of March."),
    ("leave.md", "Parental leave is fourteen weeks; partners get two weeks."),
    ("expenses.md", "Taxi fares after working late are reimbursed with a receipt."),
    ("expenses.md", "Hotel costs on business trips are capped at 150 euros a night."),
    ("security.md", "Laptops use full disk encryption and lock the screen after five minutes."),
    ("security.md", "Visitors sign in at the front desk and wear a badge."),
]


class WordEmbedder:
    """Embeds like a model (the Embedder protocol) and records every call in `calls`."""

    model_id = "word-vectors@test"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts, progress=None) -> np.ndarray:
        """float32 (len(texts), 64), rows L2-normalised."""
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), self.dim))
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                rows[i] += np.random.default_rng(seed).normal(size=self.dim)
        if progress:
            progress(len(texts), len(texts))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
