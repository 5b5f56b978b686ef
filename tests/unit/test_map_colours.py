"""What the Clusters maps can be coloured by: detected language, any field of the texts, the
legend's top groups and "other", the sentence when clusters follow language, and query labels
kept inside the map."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embedlab import figures
from embedlab.projection.clustering import cluster_agreement, language_note
from embedlab.projection.language import LANGUAGE_NAMES, detect_language, detect_languages
from embedlab.projection.mapdata import (
    COLOUR_CLUSTER,
    COLOUR_LABEL,
    COLOUR_LANGUAGE,
    Corpus,
    colour_keys,
    field_values,
    load_sample_corpus,
    prepare_table,
    records_corpus,
    table_corpus,
    top_groups,
)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Annual leave accrues at one and a half days per month.", "latin"),
        ("员工入职满一年后，每年享有十天带薪年假。", "zh"),
        ("请连接VPN后访问内网", "zh"),  # a Chinese sentence with an English acronym
        ("Fill in the 年假 form before Friday", "latin"),  # an English sentence with a Chinese word
        ("東京は日本の首都です", "ja"),  # kanji with kana
        ("한국어 텍스트입니다", "ko"),
        ("Привет, как дела?", "cyrillic"),
        ("مرحبا بالعالم", "arabic"),
        ("Ελληνικά κείμενα", "other"),
        ("12:30 — 42 %!", "none"),
        ("", "none"),
    ],
)
def test_language_by_script(text, language):
    assert detect_language(text) == language
    assert language in LANGUAGE_NAMES


def test_detected_language_matches_the_bundled_corpus():
    df = load_sample_corpus()
    detected = detect_languages(list(df["text"]))
    expected = ["zh" if lang == "zh" else "latin" for lang in df["lang"]]
    wrong = [t for t, d, e in zip(df["text"], detected, expected, strict=True) if d != e]
    # Only code with Chinese identifiers may read as Latin script (it is mostly Latin letters).
    assert all(t.startswith("def ") for t in wrong) and len(wrong) <= 2, wrong


def test_every_column_and_metadata_field_is_a_colour():
    frame = pd.DataFrame({"id": [1, 2, 3], "text": ["a", "b", " "], "topic": ["x", "y", "z"],
                          "team": ["red", None, "blue"]})
    corpus = table_corpus("f.csv", prepare_table(frame, "text", "topic"))
    assert corpus.fields == (("id", ("1", "2")), ("team", ("red", "(missing)")))
    assert colour_keys(corpus) == [COLOUR_LABEL, COLOUR_CLUSTER, COLOUR_LANGUAGE, "field:id", "field:team"]
    assert field_values(corpus, "field:team") == ("red", "(missing)")
    assert field_values(corpus, COLOUR_LABEL) == ("x", "y")
    unlabelled = table_corpus("f.csv", prepare_table(frame, "text"))
    assert colour_keys(unlabelled)[:2] == [COLOUR_CLUSTER, COLOUR_LANGUAGE]
    assert "field:topic" in colour_keys(unlabelled)
    with pytest.raises(ValueError, match="no labels"):
        field_values(unlabelled, COLOUR_LABEL)
    with pytest.raises(ValueError, match="no such field"):
        field_values(corpus, "field:nope")
    records = [{"text": "a", "metadata": {"source": "a.md", "chunk": 0}},
               {"text": "b", "metadata": {"source": "b.md"}}]
    stored = records_corpus("c", records, "source")
    assert stored.fields == (("chunk", ("0", "(missing)")),)
    # Fields colour the map only: the same texts and labels are the same maps.
    assert stored.key == Corpus("c", stored.texts, stored.labels).key


def test_a_legend_keeps_the_twelve_largest_groups_and_other():
    values = [f"g{i}" for i in range(20) for _ in range(20 - i)]  # g0 the largest, g19 the smallest
    groups = top_groups(values, other="other ({n} groups)")
    assert groups.order == [f"g{i}" for i in range(12)] + ["other (8 groups)"]
    assert groups.other == "other (8 groups)"
    assert len(groups.of_text) == len(values)
    assert groups.of_text.count("other (8 groups)") == sum(20 - i for i in range(12, 20))
    assert groups.of_text[:20] == ["g0"] * 20
    # A given order is kept for the groups that stay (cluster numbers, topics as they come).
    ordered = top_groups(values, order=[f"g{i}" for i in reversed(range(20))])
    assert ordered.order[:12] == [f"g{i}" for i in reversed(range(12))]
    # Twelve or thirteen groups: all shown, nothing merged.
    few = top_groups([f"g{i}" for i in range(13)])
    assert few.other is None and len(few.order) == 13
    colours = figures.group_colours(groups.order, other=groups.other)
    assert colours["other (8 groups)"] == figures.NOISE_COLOUR
    assert len({colours[g] for g in groups.order[:12]}) == 12


def test_clusters_that_follow_language_are_named_plainly():
    languages = ["zh", "latin"] * 20
    topics = [t for t in "abcd" for _ in range(10)]
    by_language = np.array([0 if lang == "zh" else 1 for lang in languages])
    assert cluster_agreement(by_language, languages) == pytest.approx(1.0)
    note = language_note(by_language, languages, topics, "Without instruction")
    assert note is not None
    text = str(note)
    assert text.startswith("Without instruction: the clusters found follow the texts' language, not their topic")
    assert "ARI 1.00 against the detected language" in text
    topic_ari = cluster_agreement(by_language, topics)
    assert f"{topic_ari:.2f} against the topic labels" in text
    # Clusters that follow the topic: nothing to say.
    by_topic = np.array(["abcd".index(t) for t in topics])
    assert language_note(by_topic, languages, topics, "x") is None
    # One language only, or no labels.
    assert language_note(by_language, ["zh"] * 40, topics, "x") is None
    assert "group texts by language" in str(language_note(by_language, languages, None, "x"))


def test_query_labels_stay_inside_the_map():
    coords = np.array([[0, 0], [10, 10]], dtype=np.float32)
    queries = np.array([[0.5, 9.8], [9.5, 5.0], [5.0, 5.0], [0.2, 0.1]], dtype=np.float32)
    assert figures.label_positions(queries, coords) == ["bottom right", "top left", "top center", "top right"]
    fig = figures.umap_map(coords, ["a", "b"], ["x", "y"], "t", query_coords=queries, queries=list("pqrs"),
                           queries_name="你的查询", query_prefix="查询：")
    spec = json.loads(fig.to_json())
    [stars] = [t for t in spec["data"] if t["name"] == "你的查询"]
    assert stars["cliponaxis"] is False and stars["textposition"][0] == "bottom right"
    assert stars["hovertext"][0] == "查询：p"
