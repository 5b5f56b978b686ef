"""embedlab.projection and the Clusters figures: kNN, UMAP maps, query placement, clustering, measures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.neighbors import NearestNeighbors

from embedlab import figures
from embedlab.projection import mapdata, neighbours
from embedlab.projection.clustering import (
    Clustering,
    Separation,
    cluster_hdbscan,
    cluster_kmeans,
    comparison_table,
    kmeans,
    knn_label_agreement,
    measure_changes,
    separation,
    silhouette_cosine,
    verdict,
)
from embedlab.projection.mapdata import (
    MAX_QUERIES,
    Corpus,
    MapSide,
    PreparedTable,
    cluster_names,
    guess_label_column,
    load_sample_corpus,
    metadata_fields,
    prepare_table,
    query_lines,
    records_corpus,
    sample_corpus,
    sample_topic_size,
    selected_rows,
    selection_table,
    table_corpus,
)
from embedlab.projection.neighbours import cosine_knn, search_space
from embedlab.projection.umap import (
    Projection,
    UmapParams,
    auto_epochs,
    enable_numba_disk_cache,
    fit_umap,
    place_queries,
    warm_up,
)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(per: int = 30, centres: int = 4, dim: int = 32, spread: float = 0.15, seed: int = 0):
    """Unit vectors around `centres` random directions: (vectors (per*centres, dim), labels)."""
    rng = np.random.default_rng(seed)
    middle = unit(rng.standard_normal((centres, dim)))
    labels = np.repeat(np.arange(centres), per)
    return unit(middle[labels] + spread * rng.standard_normal((len(labels), dim))), labels


def test_cosine_knn_matches_brute_force_and_puts_self_first():
    rng = np.random.default_rng(1)
    x = unit(rng.standard_normal((300, 24)))
    x[7] = x[3]  # a duplicate must still have itself first
    idx, dist = cosine_knn(x, 10, block=64)
    assert idx.shape == dist.shape == (300, 10) and idx.dtype == np.int32 and dist.dtype == np.float32
    assert (idx[:, 0] == np.arange(300)).all() and np.allclose(dist[:, 0], 0)
    assert idx[3, 1] == 7 and idx[7, 1] == 3
    ref_dist, _ = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    assert np.allclose(dist[:, 1:], ref_dist[:, 1:], atol=1e-5)
    assert (np.diff(dist, axis=1) >= -1e-6).all()  # nearest first

    queries = unit(rng.standard_normal((5, 24)))
    q_idx, q_dist = cosine_knn(x, 4, queries=queries)
    sims = queries @ x.T
    assert (q_idx == np.argsort(-sims, axis=1)[:, :4]).all()
    assert np.allclose(q_dist, 1 - np.sort(sims, axis=1)[:, ::-1][:, :4], atol=1e-6)
    with pytest.raises(ValueError):
        cosine_knn(x, 301)


@pytest.mark.parametrize("dims", [2, 3])
def test_fit_shapes_and_determinism_with_a_seed(dims):
    x, _ = blobs(per=20)
    params = UmapParams(n_components=dims, n_neighbors=10, seed=7, n_epochs=60)
    a = fit_umap(x, params)
    b = fit_umap(x, params)
    assert a.coords.shape == (80, dims) and a.coords.dtype == np.float32
    assert np.array_equal(a.coords, b.coords)
    c = fit_umap(x, UmapParams(n_components=dims, n_neighbors=10, seed=8, n_epochs=60))
    assert not np.array_equal(a.coords, c.coords)
    assert a.n_neighbors == 10 and a.a > 0 and a.b > 0


def test_map_keeps_topics_apart_and_small_inputs_are_handled():
    x, labels = blobs(per=25, centres=3, spread=0.1)
    coords = fit_umap(x, UmapParams(n_neighbors=10, seed=0, n_epochs=100)).coords
    # On the map, every point's nearest other point shares its blob.
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() > 0.95
    tiny = fit_umap(x[:6], UmapParams(n_neighbors=15, seed=0, n_epochs=20))
    assert tiny.coords.shape == (6, 2) and tiny.n_neighbors == 5  # k capped at n - 1
    with pytest.raises(ValueError, match="at least 4"):
        fit_umap(x[:3])


def test_queries_land_next_to_their_topic():
    x, labels = blobs(per=25, centres=3, spread=0.1, seed=2)
    proj = fit_umap(x, UmapParams(n_neighbors=10, seed=0, n_epochs=100))
    rng = np.random.default_rng(3)
    # New points near blob 0's and blob 2's members (not copies of them).
    queries = unit(x[[0, 60]] + 0.05 * rng.standard_normal((2, x.shape[1])))
    placed = place_queries(proj, x, queries)
    assert placed.shape == (2, 2) and placed.dtype == np.float32
    for q, blob in zip(placed, (0, 2), strict=True):
        nearest = np.linalg.norm(proj.coords - q, axis=1).argsort()[:5]
        assert (labels[nearest] == blob).all()
    again = place_queries(proj, x, queries)
    assert np.array_equal(placed, again)  # seeded: reproducible
    assert place_queries(proj, x, queries[:0]).shape == (0, 2)


def test_large_inputs_search_on_pca_and_start_from_it(monkeypatch):
    monkeypatch.setattr(neighbours, "LARGE_N", 50)
    monkeypatch.setattr(neighbours, "SEARCH_DIMS", 8)
    x, labels = blobs(per=30, centres=3, dim=32, spread=0.1)
    space, pcs = search_space(x)
    assert space.shape == (90, 8) and pcs.shape == (90, 8)
    assert np.allclose(np.linalg.norm(space, axis=1), 1, atol=1e-5)
    coords = fit_umap(x, UmapParams(n_neighbors=10, seed=0, n_epochs=80)).coords
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() > 0.95
    assert search_space(x[:40])[1] is None  # small inputs: searched as they are


def test_auto_epochs_fall_with_size():
    assert auto_epochs(500) > auto_epochs(5_000) > auto_epochs(20_000) >= 100


def test_warm_up_is_idempotent():
    first = warm_up()
    assert warm_up() == first
    assert enable_numba_disk_cache() == 0  # switched on once per process


def test_measures_agree_with_scikit_learn():
    x, labels = blobs(per=20, centres=3, spread=0.4, seed=4)
    assert silhouette_cosine(x, labels) == pytest.approx(silhouette_score(x, labels, metric="cosine"))
    assert silhouette_cosine(x, np.zeros(len(x))) is None
    clusters = kmeans(x, 3, seed=0)
    sep = separation(x, [f"t{v}" for v in labels], clusters)
    assert sep.ari == pytest.approx(adjusted_rand_score(labels, clusters))
    assert sep.nmi == pytest.approx(normalized_mutual_info_score(labels, clusters))
    assert sep.clusters == 3
    assert sep.cluster_silhouette == pytest.approx(silhouette_score(x, clusters, metric="cosine"))
    no_labels = separation(x, None, clusters)
    assert no_labels.silhouette is None and no_labels.ari is None and no_labels.cluster_silhouette is not None


def test_knn_label_agreement_by_hand():
    # Points on a line: 0, 1, 2 | 10, 11 ; labels a a b | b b. With k=1 the nearest neighbours are
    # 1, 0 (or 2), 1, 11, 10: agreements 1, 1, 0, 1, 1 -> 0.8.
    knn = np.array([[0, 1], [1, 0], [2, 1], [3, 4], [4, 3]])
    assert knn_label_agreement(list("aabbb"), k=1, knn=knn) == pytest.approx(0.8)
    x, labels = blobs(per=10, centres=2, spread=0.05)
    assert knn_label_agreement(labels, k=5, vectors=x) == 1.0


def test_kmeans_k_by_silhouette_fixed_k_and_hdbscan():
    x, labels = blobs(per=25, centres=4, spread=0.1, seed=5)
    best = cluster_kmeans(x, k_range=range(2, 9))
    assert best.k == 4 and set(best.scores) == set(range(2, 9)) and max(best.scores.values()) == best.scores[4]
    assert adjusted_rand_score(labels, best.labels) == pytest.approx(1.0)
    fixed = cluster_kmeans(x, k=3)
    assert fixed.k == 3 and len(set(fixed.labels)) == 3 and not fixed.scores
    rng = np.random.default_rng(6)
    noisy = np.vstack([x, unit(rng.standard_normal((5, x.shape[1])))])
    found = cluster_hdbscan(noisy, min_cluster_size=8)
    assert found.method == "HDBSCAN" and found.k == 4 and (found.labels == -1).any()
    with pytest.raises(ValueError):
        cluster_kmeans(x[:3], k=5)


def sep(sil, ari, nmi, knn, found=6, csil=0.1) -> Separation:
    return Separation(sil, ari, nmi, knn, found, csil)


def test_verdict_and_table():
    worse, better = sep(0.05, 0.30, 0.40, 0.70), sep(0.12, 0.45, 0.52, 0.80)
    assert str(verdict(worse, better, "Clustering")) == (
        "With the instruction “Clustering” the topics separate better: 4 of 4 measures improve "
        "(silhouette, ARI, NMI and kNN agreement); silhouette 0.05 → 0.12.")
    assert str(verdict(better, worse, "Clustering")).startswith(
        "Without the instruction “Clustering” the topics separate better: 4 of 4 measures are worse with it")
    same = str(verdict(worse, sep(0.052, 0.301, 0.40, 0.70), "C"))
    assert same == "The instruction “C” makes little difference: all 4 measures change by less than 0.01."
    mixed = str(verdict(worse, sep(0.01, 0.45, 0.52, 0.60), "C"))
    assert mixed == ("Mixed result with the instruction “C”: 2 of 4 measures improve (ARI and NMI), "
                     "2 get worse (silhouette and kNN agreement).")
    unlabelled = str(verdict(sep(None, None, None, None, csil=0.1), sep(None, None, None, None, csil=0.3), "C"))
    assert "Without labels" in unlabelled and "tighter with the instruction “C” (silhouette 0.10 → 0.30)" in unlabelled
    table = comparison_table(worse, better)
    assert list(table["measure"])[0] == "Silhouette of labels (cosine)"
    assert table.set_index("measure").loc["kNN label agreement", "change"] == pytest.approx(0.10)


def test_the_verdict_never_claims_more_than_its_numbers():
    """One measure worse and three unchanged is no clear difference, not "separates better"."""
    base = sep(0.05, 0.30, 0.40, 0.70)
    one_worse = str(verdict(base, sep(0.05, 0.20, 0.405, 0.70), "C"))
    assert one_worse == ("No clear difference with the instruction “C”: 1 of 4 measures get worse (ARI), "
                         "3 within ±0.01.")
    assert "better" not in one_worse
    one_up = str(verdict(base, sep(0.05, 0.30, 0.50, 0.70), "C"))
    assert one_up.startswith("No clear difference") and "1 of 4 measures improve (NMI), 3 within ±0.01" in one_up
    # Half the measures improve and none gets worse: better, with both counts named.
    two_up = str(verdict(base, sep(0.05, 0.35, 0.50, 0.70), "C"))
    assert two_up.startswith("With the instruction “C” the topics separate better: 2 of 4 measures improve")
    assert "2 within ±0.01" in two_up
    # Three measures improve, one gets worse: mixed, not better.
    three_one = str(verdict(base, sep(0.10, 0.35, 0.50, 0.60), "C"))
    assert three_one.startswith("Mixed result") and "3 of 4 measures improve" in three_one and "1 get worse" in three_one
    # Every sentence counts what it claims: the counts add up to the measures compared.
    for after in (sep(0.05, 0.20, 0.405, 0.70), sep(0.10, 0.35, 0.50, 0.60), sep(0.2, 0.1, 0.1, 0.9)):
        c = measure_changes(base, after)
        assert c.compared == 4 and len(c.up) + len(c.down) + len(c.same) == 4


def test_the_verdict_translates_as_one_message():
    chinese = {"With the instruction “{instruction}” the topics separate better: {up} of {total} measures "
               "improve ({improved}){unchanged}; silhouette {sil_without} → {sil_with}.":
               "使用指令“{instruction}”时主题分得更开：{total} 项指标中 {up} 项提高（{improved}）{unchanged}；"
               "轮廓系数 {sil_without} → {sil_with}。",
               "{first} and {second}": "{first}和{second}", "{first}, {rest}": "{first}、{rest}",
               "silhouette": "轮廓系数", ", {same} within ±0.01": "，{same} 项变化小于 0.01"}
    text = verdict(sep(0.05, 0.30, 0.40, 0.70), sep(0.12, 0.45, 0.52, 0.70), "聚类").translate(
        lambda s: chinese.get(s, s))
    assert text == "使用指令“聚类”时主题分得更开：4 项指标中 3 项提高（轮廓系数、ARI和NMI），1 项变化小于 0.01；轮廓系数 0.05 → 0.12。"


def test_prepare_table_drops_empty_texts_marks_missing_labels_and_caps():
    frame = pd.DataFrame({"t": ["a", "  ", None, "b ", "c"], "l": ["x", "y", "z", None, ""]})
    prepared = prepare_table(frame, "t", "l")
    assert prepared.texts == ["a", "b", "c"] and prepared.labels == ["x", "(missing)", "(missing)"]
    assert prepared.dropped == 2 and prepared.truncated == 0
    capped = prepare_table(frame, "t", None, max_texts=2)
    assert capped.texts == ["a", "b"] and capped.labels is None and capped.truncated == 1


def test_sample_corpus_is_big_bilingual_and_labelled():
    df = load_sample_corpus()
    assert len(df) >= 300 and df["text"].is_unique
    assert df["label"].nunique() >= 6 and set(df["lang"]) == {"en", "zh"}
    assert (df.groupby("label")["lang"].nunique() == 2).all()
    small = load_sample_corpus(per_label=4)
    assert len(small) == 4 * df["label"].nunique() and set(small["lang"]) == {"en", "zh"}


def test_umap_map_escapes_text_and_keeps_row_ids():
    coords = np.array([[0, 0], [1, 1], [2, 0]], dtype=np.float32)
    texts = ["<script>alert(1)</script>", "plain", "x" * 500]
    groups = ["<b>HR</b>", "IT", "<b>HR</b>"]
    fig = figures.umap_map(coords, texts, groups, "<i>map</i>", query_coords=np.array([[0.5, 0.5]]),
                           queries=["<img src=x>"])
    spec = json.loads(fig.to_json())
    traces = {t["name"]: t for t in spec["data"]}
    hr = traces["&lt;b&gt;HR&lt;/b&gt;"]
    assert hr["hovertext"][0].startswith("&lt;script&gt;") and "<script>" not in json.dumps(spec)
    assert list(fig.data[0].customdata) == [0, 2] and list(fig.data[1].customdata) == [1]
    assert len(hr["hovertext"][1]) < 400 and "…" in hr["hovertext"][1]  # shortened
    queries = traces["your queries"]
    assert queries["text"] == ["&lt;img src=x&gt;"] and list(fig.data[2].customdata) == [-1]
    assert spec["layout"]["title"]["text"] == "&lt;i&gt;map&lt;/i&gt;"
    fig3 = figures.umap_map(np.zeros((3, 3)), texts, groups, "3d")
    assert {t.type for t in fig3.data} == {"scatter3d"}


def test_group_colours_are_stable_and_noise_is_grey():
    fig = figures.umap_map(np.zeros((3, 2)), ["x", "y", "z"], ["cluster 2", "cluster 1", "noise"], "t",
                           figures.group_colours(["cluster 1", "cluster 2", "noise"]))
    assert [t.name for t in fig.data] == ["cluster 1", "cluster 2", "noise"]  # legend in the colour map's order
    colours = figures.group_colours(["b", "a", "b", "noise"])
    assert list(colours) == ["b", "a", "noise"] and colours["noise"] == figures.NOISE_COLOUR
    assert colours["b"] != colours["a"]
    fig = figures.silhouette_by_k({2: 0.1, 3: 0.3, 4: 0.2}, 3, "k")
    assert list(fig.data[0].marker.color).count("#d62728") == 1


# --- what the Clusters page maps ------------------------------------------------------------------


def test_corpus_key_changes_with_texts_and_labels_only():
    a = Corpus("a", ("x", "y"), ("1", "2"))
    assert a.key == Corpus("renamed", ("x", "y"), ("1", "2")).key
    assert a.key != Corpus("a", ("x", "y"), ("1", "3")).key
    assert a.key != Corpus("a", ("x", "y"), None).key
    assert Corpus("a", ("xy",), None).key != Corpus("a", ("x", "y"), None).key
    assert len(Corpus("a", ("\ud800 lone",), None).key) == 40  # a lone surrogate is hashed too


def test_sample_corpus_per_topic_and_its_topic_size():
    full = load_sample_corpus()
    size = sample_topic_size()
    assert size == full.groupby("label").size().max()
    corpus = sample_corpus(4)
    assert corpus.name == "sample corpus" and len(corpus.texts) == 4 * full["label"].nunique()
    assert corpus.labels is not None and len(corpus.labels) == len(corpus.texts)
    assert len(sample_corpus(size).texts) == len(full)


def test_label_column_guess_and_table_corpus():
    assert guess_label_column(["id", "Text", " Topic ", "label"], "Text") == "label"  # first by name order
    assert guess_label_column(["id", "Topic", "topic"], "id") == "Topic"  # first such column
    assert guess_label_column(["label", "body"], "label") is None  # never the text column
    assert guess_label_column(["a", "b"], "a") is None
    prepared = PreparedTable(["t1", "t2"], None, 0, 0)
    assert table_corpus("f.csv", prepared) == Corpus("f.csv", ("t1", "t2"), None)
    labelled = PreparedTable(["t1"], ["x"], 0, 0)
    assert table_corpus("f.csv", labelled).labels == ("x",)


def test_stored_records_become_a_corpus_labelled_by_a_metadata_field(monkeypatch):
    records = [
        {"text": "Leave is approved by your manager.", "metadata": {"source": "hr.md", "chunk": 0}},
        {"text": "   ", "metadata": {"source": "hr.md", "chunk": 1}},
        {"text": "Badges are returned.", "metadata": {"source": "it.md", "lang": "en"}},
        {"text": "", "metadata": {}},
    ]
    assert metadata_fields(records) == ["lang", "source"]  # text-valued fields only
    by_source = records_corpus("collection c", records, "source")
    assert by_source.texts == ("Leave is approved by your manager.", "Badges are returned.")
    assert by_source.labels == ("hr.md", "it.md")
    assert records_corpus("collection c", records, "lang").labels == ("", "en")
    assert records_corpus("collection c", records).labels is None
    monkeypatch.setattr(mapdata, "MAX_TEXTS", 1)
    assert records_corpus("c", records).texts == ("Leave is approved by your manager.",)


def test_cluster_names():
    clusters = np.array([1, 0, -1, 1])
    assert cluster_names(clusters) == ["cluster 2", "cluster 1", "noise", "cluster 2"]
    assert cluster_names(clusters, "簇 {n}", "噪声") == ["簇 2", "簇 1", "噪声", "簇 2"]


def test_query_lines_selected_rows_and_the_selection_table():
    assert query_lines("  a \n\n b\n   \n") == ["a", "b"]
    assert len(query_lines("\n".join(map(str, range(50))))) == MAX_QUERIES
    points = [{"customdata": 2}, {"customdata": [0]}, {"customdata": -1}, {"customdata": []}, {"x": 1},
              {"customdata": 1.0}, {"customdata": True}]
    assert selected_rows(points) == [2, 0, 1]  # query markers (negative) and junk left out
    corpus = Corpus("c", ("t0", "t1", "t2"), ("hr", "it", "hr"))
    proj = Projection(np.zeros((3, 2), np.float32), 1.0, 1.0, 2)
    sides = [
        MapSide(title, "", np.zeros((3, 4), np.float32), proj,
                           Clustering(np.array(found), "k-means", 2), sep(None, None, None, None))
        for title, found in (("plain", [0, 1, 0]), ("instructed", [1, -1, 0]))
    ]
    table = selection_table(corpus, [("plain", 2), ("instructed", 1), ("instructed", 0)], sides)
    assert table.to_dict("records") == [
        {"map": "plain", "text": "t2", "label": "hr", "cluster": "cluster 1"},
        {"map": "instructed", "text": "t1", "label": "it", "cluster": "noise"},
        {"map": "instructed", "text": "t0", "label": "hr", "cluster": "cluster 2"},
    ]
    unlabelled = Corpus("c", corpus.texts, None)
    assert list(selection_table(unlabelled, [("plain", 0)], sides)["label"]) == [""]
