"""Plotly figure builders, one module per page: pure functions, data in, go.Figure out.

User text shown in hovers, labels or legends goes through `hover.hover_text` / `wrapped_hover`
(plotly renders HTML tags there, so raw user text could inject markup). Every builder is
importable from here: `from embedlab import figures; figures.umap_map(...)`.
"""

from __future__ import annotations

from embedlab.figures.benchmark import latency_vs_batch, throughput_vs_concurrency
from embedlab.figures.chunking import chunk_similarity_bars, chunk_size_histogram, pooling_comparison_bars
from embedlab.figures.evaluation import (
    NON_RELEVANT_COLOUR,
    RELEVANT_COLOUR,
    eval_dimension_line,
    eval_metric_bars,
    rank_change_dumbbell,
    similarity_distributions,
    threshold_metrics,
)
from embedlab.figures.hover import hover_text, wrapped_hover
from embedlab.figures.instructions import (
    difference_heatmap,
    instruction_comparison_bars,
    shared_range,
    similarity_heatmap,
)
from embedlab.figures.maps import (
    HIT_COLOURS,
    MAP_PALETTE,
    NOISE_COLOUR,
    SVG_POINT_LIMIT,
    HitLayer,
    add_cluster_names,
    add_highlight,
    add_query_hits,
    group_colours,
    label_positions,
    silhouette_by_k,
    umap_map,
)
from embedlab.figures.picks import add_pick, add_selection, text_traces
from embedlab.figures.search import search_rank_moves, search_similarity_bars
from embedlab.figures.servercheck import identity_heatmaps, truncation_probe

__all__ = [
    "HIT_COLOURS",
    "MAP_PALETTE",
    "NOISE_COLOUR",
    "NON_RELEVANT_COLOUR",
    "RELEVANT_COLOUR",
    "SVG_POINT_LIMIT",
    "add_cluster_names",
    "HitLayer",
    "add_highlight",
    "add_pick",
    "add_selection",
    "add_query_hits",
    "chunk_similarity_bars",
    "chunk_size_histogram",
    "difference_heatmap",
    "eval_dimension_line",
    "eval_metric_bars",
    "group_colours",
    "hover_text",
    "identity_heatmaps",
    "instruction_comparison_bars",
    "label_positions",
    "latency_vs_batch",
    "pooling_comparison_bars",
    "rank_change_dumbbell",
    "search_rank_moves",
    "search_similarity_bars",
    "shared_range",
    "silhouette_by_k",
    "similarity_distributions",
    "similarity_heatmap",
    "text_traces",
    "threshold_metrics",
    "throughput_vs_concurrency",
    "truncation_probe",
    "umap_map",
    "wrapped_hover",
]
