"""The Instruction Lab's bundled sets: their structure, and that on the stand-in server the
instruction matters (no configuration at MRR 1.0, best and worst instruction clearly apart)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from embedlab import instruction_sets
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.comparison import NO_INSTRUCTION, label_metrics, labels_from_pairs, rounded
from embedlab.instruction_sets import (
    MAX_ALTERNATIVES,
    SampleSet,
    instruction_variants,
    join_items,
    measure,
    sample_sets,
    split_items,
)
from embedlab.instructions import PRESETS
from embedlab.ranking import cosine_matrix
from tests.support.word_embedder import WordEmbedder

SETS = sample_sets()
MIN_SPREAD = 0.05  # MRR of the best instruction - MRR of the worst, on every set


def test_every_bundled_set_is_sized_for_the_page_and_fully_labelled():
    files = sorted(instruction_sets.SETS_DIR.glob("*.json"))
    assert len(SETS) == len(files)  # no two files share a name
    for lang in ("en", "zh"):
        assert sum(s.language == lang for s in SETS.values()) >= 2, lang
    presets = {p.name for p in PRESETS}
    for s in SETS.values():
        assert 8 <= len(s.queries) <= 15, s.name
        assert len(set(s.queries)) == len(s.queries) and len(set(s.documents)) == len(s.documents)  # labels are keyed by text
        assert len(s.documents) > len(s.queries)  # every query has wrong answers to beat
        assert {q for q, _ in s.pairs} == set(s.queries), s.name  # every query has at least one answer
        assert all(d in s.documents for _, d in s.pairs)
        assert s.instruction in presets and set(s.alternatives) <= presets, s.name
        assert 2 <= len(s.alternatives) <= MAX_ALTERNATIVES and s.instruction not in s.alternatives, s.name
        assert [v.name for v in instruction_variants(s)] == [s.instruction, *s.alternatives]
        assert all(v.symmetric == s.symmetric for v in instruction_variants(s))
        assert split_items(join_items(s.documents)) == list(s.documents)
    assert any(s.symmetric for s in SETS.values()) and not all(s.symmetric for s in SETS.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"relevant": [[1]]}, "one list per query"),
        ({"relevant": [[1], [3]]}, "from 1 to 2"),
        ({"relevant": [[1], [0]]}, "from 1 to 2"),
        ({"alternatives": ["A", "B", "C", "D"]}, "at most 3"),
    ],
)
def test_malformed_sets_are_refused_with_the_file_named(tmp_path, monkeypatch, change, message):
    raw = {"name": "Tiny", "queries": ["q1", "q2"], "documents": ["d1", "d2"], "relevant": [[1], [2]], **change}
    (tmp_path / "tiny.json").write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setattr(instruction_sets, "SETS_DIR", tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        sample_sets()
    assert "tiny.json" in str(err.value)


def test_an_older_set_without_alternatives_still_loads(tmp_path, monkeypatch):
    raw = {"name": "Old", "instruction": "HR policy", "queries": ["q"], "documents": ["d"], "relevant": [[1]]}
    (tmp_path / "old.json").write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setattr(instruction_sets, "SETS_DIR", tmp_path)
    [old] = sample_sets().values()
    assert old.alternatives == () and [v.name for v in instruction_variants(old)] == ["HR policy"]


def test_measure_embeds_each_text_once_and_scores_every_configuration():
    s = SampleSet(name="Tiny", language="en", description="", queries=("reset password", "annual leave days"),
                  documents=("password reset at the desk", "leave is ten days", "router reset button"),
                  pairs=(("reset password", "password reset at the desk"), ("annual leave days", "leave is ten days")),
                  instruction="IT helpdesk", alternatives=("HR policy",))
    embedder = WordEmbedder()
    table = measure(s, embedder)
    [sent] = embedder.calls
    assert len(sent) == len(set(sent)) == 3 + 2 * 3  # documents once, the queries bare and per instruction
    assert list(table["Instruction"]) == [NO_INSTRUCTION, "IT helpdesk", "HR policy"]
    vectors = dict(zip(sent, embedder.embed(sent), strict=True))
    labels = labels_from_pairs(s.queries, s.documents, s.pairs)
    for variant, row in zip(instruction_variants(s), table.iloc[1:].to_dict("records"), strict=True):
        q = np.array([vectors[t] for t in variant.query_texts(s.queries)])
        d = np.array([vectors[t] for t in s.documents])
        expected = label_metrics(rounded(cosine_matrix(q, d)), labels)
        assert row["MRR"] == round(expected.mrr, 4) and row["Separation"] == round(expected.separation, 4)
    assert table["Top-1 changed"].iloc[0] == 0 and (table["Queries"] == 2).all()
    with pytest.raises(ValueError, match="no query has a relevant document"):
        measure(dataclasses.replace(s, pairs=()), embedder)


@pytest.fixture(scope="module")
def figures(embedding_server):
    embedder = OpenAICompatibleEmbedder(embedding_server, "multilingual-e5-small-q4", batch_size=64)
    return {name: measure(s, embedder) for name, s in SETS.items()}


@pytest.mark.parametrize("name", list(SETS))
def test_no_configuration_sits_at_the_ceiling_and_instructions_differ(figures, name):
    table = figures[name]
    s = SETS[name]
    assert list(table["Instruction"]) == [NO_INSTRUCTION, s.instruction, *s.alternatives]
    assert (table["MRR"] < 1.0).all(), table.to_string()
    instructed = table["MRR"].iloc[1:]
    assert instructed.max() - instructed.min() >= MIN_SPREAD, table.to_string()
    assert table["Top-1 changed"].iloc[0] == 0 and table["Top-1 changed"].max() >= 1


def test_the_first_set_shows_its_instruction_at_work(figures):
    """The page opens on the first set: its own instruction must beat no instruction and move
    several top-1 documents, or the page's main demo shows nothing."""
    table = figures[next(iter(SETS))].set_index("Instruction")
    own = table.loc[next(iter(SETS.values())).instruction]
    assert own["MRR"] - table.loc[NO_INSTRUCTION, "MRR"] >= 0.1, table.to_string()
    assert own["Top-1 changed"] >= 3
    assert own["MRR"] == table["MRR"].max()
