"""Instruction Lab page: how a task instruction changes query–document similarities and rankings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from components import state
from components.i18n import _, tr
from components.instruction_library import flash, library_editor, show_flash
from components.instruction_picker import display_name, pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress
from embedlab import figures
from embedlab.comparison import (
    NO_INSTRUCTION,
    Comparison,
    Variant,
    compare,
    input_names,
    input_preview,
    labels_frame,
    labels_from_pairs,
    pairs_from_frame,
)
from embedlab.instruction_sets import MAX_ALTERNATIVES, SampleSet, join_items, sample_sets, split_items
from embedlab.instructions import DEFAULT_TEMPLATE, Instruction, InstructionLibrary, template_problems

MAX_TEXTS = 200  # per side: keeps heatmaps readable and one click affordable
ss = st.session_state


@st.cache_data(show_spinner=False)
def _sample_sets() -> dict[str, SampleSet]:
    return sample_sets()  # bundled files: read once per process, not on every rerun


# Token counts of every input: tokenizing up to 400 texts is kept out of the rerun path.
_input_preview = st.cache_data(input_preview, show_spinner=False, max_entries=16)


# --- callbacks (run before the script, so they may set widget values) --------------------------


def _load_sample() -> None:
    sample = _sample_sets()[ss[state.INSTR_SAMPLE]]
    ss[state.INSTR_QUERIES], ss[state.INSTR_DOCUMENTS] = list(sample.queries), list(sample.documents)
    ss[state.INSTR_PAIRS] = [list(p) for p in sample.pairs]
    ss[state.INSTR_QUERIES_INPUT] = join_items(sample.queries)
    ss[state.INSTR_DOCUMENTS_INPUT] = join_items(sample.documents)
    ss[state.INSTR_SYMMETRIC] = sample.symmetric
    if sample.instruction:
        ss[state.INSTR_PICK] = sample.instruction
    # The set's own alternatives, so that Compare shows its best and worst instruction side by side.
    ss[state.INSTR_COMPARE] = list(sample.alternatives)


def _apply_texts() -> None:
    queries, documents = split_items(ss[state.INSTR_QUERIES_INPUT]), split_items(ss[state.INSTR_DOCUMENTS_INPUT])
    if not queries or not documents:
        flash("error", _("Enter at least one query and one document; nothing was changed."))
        return
    if len(queries) > MAX_TEXTS or len(documents) > MAX_TEXTS:
        flash("error", _("At most {n} queries and {n} documents; nothing was changed.").format(n=MAX_TEXTS))
        return
    ss[state.INSTR_QUERIES], ss[state.INSTR_DOCUMENTS] = queries, documents


def _apply_template() -> None:
    problems = template_problems(ss[state.INSTR_TEMPLATE_INPUT])
    if problems:
        flash("error", _("Template not applied: {problems}").format(problems=" ".join(tr(p) for p in problems)))
        return
    ss[state.INSTR_TEMPLATE] = ss[state.INSTR_TEMPLATE_INPUT]


def _reset_template() -> None:
    ss[state.INSTR_TEMPLATE] = ss[state.INSTR_TEMPLATE_INPUT] = DEFAULT_TEMPLATE


def _save_labels(grid_key: str) -> None:
    queries, documents = ss[state.INSTR_QUERIES], ss[state.INSTR_DOCUMENTS]
    # The editor's state holds the edits; they apply to the grid it was drawn from.
    grid = labels_frame(queries, documents, labels_from_pairs(queries, documents, ss[state.INSTR_PAIRS]))
    for row, changes in ss[grid_key].get("edited_rows", {}).items():
        for col, value in changes.items():
            grid.iloc[int(row), grid.columns.get_loc(col)] = bool(value)
    ss[state.INSTR_PAIRS] = [list(p) for p in pairs_from_frame(queries, documents, grid)]


def _start() -> None:
    ss[state.INSTR_ACTIVE] = True


# --- page ----------------------------------------------------------------------------------------


def render(ctx: PageContext) -> None:
    sets = _sample_sets()
    state.keep_valid(state.INSTR_SAMPLE, list(sets), fallback=next(iter(sets)))
    if ss[state.INSTR_QUERIES] is None:  # first visit: start from a bundled set
        _load_sample()
    queries, documents = ss[state.INSTR_QUERIES], ss[state.INSTR_DOCUMENTS]
    labels = labels_from_pairs(queries, documents, ss[state.INSTR_PAIRS])

    st.title(_("Instruction Lab"))
    st.caption(_(
        "Qwen3-Embedding reads queries as `Instruct: {task}\\nQuery:{query}`. Pick a sample set, pick or "
        "write an instruction and press **Compare** to see how every similarity and ranking moves."
    ))
    show_flash()
    left, right = st.columns([3, 2], gap="large")
    with left:
        _texts(sets, queries, documents, labels)
    with right:
        instruction = _instruction(ctx.library)

    template, symmetric = ss[state.INSTR_TEMPLATE], ss[state.INSTR_SYMMETRIC]
    with_ = Variant(instruction.name, instruction.task, template, symmetric) if instruction else None
    _preview(queries, documents, with_ or Variant(NO_INSTRUCTION))
    st.button(_("Compare"), key="instr.run", type="primary", on_click=_start, disabled=with_ is None,
              help=_("Embeds every text without and with the instruction (each distinct text once, cached)."))
    if with_ is None:
        st.info(_("Choose an instruction to compare against “no instruction”."))
        return
    if not ss[state.INSTR_ACTIVE]:
        return
    others = [Variant(i.name, i.task, template, symmetric)
              for name in ss[state.INSTR_COMPARE] if (i := ctx.library.get(name))]
    result = _comparison(ctx, queries, documents, labels, with_, others)
    if result is not None:
        ctx.model_caption()
        _results(result)


def _texts(sets: dict[str, SampleSet], queries: list[str], documents: list[str], labels: np.ndarray) -> None:
    st.subheader(_("1 · Queries and documents"))
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox(_("Sample set"), list(sets), key=state.INSTR_SAMPLE, persist_state="session",
                 help=_("Original texts in English and Chinese, with relevance labels. Loading a set also picks "
                        "its instruction and the instructions to compare it with."))
    c2.button(_("Load"), key="instr.load_sample", on_click=_load_sample, width="stretch")
    with st.form("instr.texts_form"):
        q_col, d_col = st.columns(2)
        q_col.text_area(_("Queries"), key=state.INSTR_QUERIES_INPUT, persist_state="session", height=220,
                        help=_("One per line. For texts over several lines, put a line with only --- between them."))
        d_col.text_area(_("Documents"), key=state.INSTR_DOCUMENTS_INPUT, persist_state="session", height=220,
                        help=_("One per line. For texts over several lines (code), put a line with only --- "
                               "between them."))
        st.form_submit_button(_("Apply texts"), on_click=_apply_texts)
    with st.expander(_("Relevance labels · {n} pairs (which documents answer which query)").format(n=int(labels.sum()))):
        grid_key = f"{state.INSTR_LABELS_GRID}.{hash((tuple(queries), tuple(documents)))}"
        with st.form("instr.labels_form", border=False):
            st.data_editor(labels_frame(queries, documents, labels), key=grid_key, width="stretch")
            st.form_submit_button(_("Save labels"), on_click=_save_labels, args=(grid_key,))


def _instruction(library: InstructionLibrary) -> Instruction | None:
    st.subheader(_("2 · Instruction"))
    instruction = pick_instruction(library, state.INSTR_PICK)
    st.radio(
        _("Mode"), [False, True], key=state.INSTR_SYMMETRIC, persist_state="session", horizontal=True,
        format_func={True: _("Symmetric: queries and documents"),
                     False: _("Asymmetric: queries only (retrieval)")}.__getitem__,
        help=_("Qwen instructs only queries for retrieval, and both sides for similarity and clustering."),
    )
    with st.form("instr.template_form"):
        st.text_area(_("Template"), key=state.INSTR_TEMPLATE_INPUT, persist_state="session", height=70,
                     help=_("Must contain `{query}` once; `{task}` is the instruction. No other placeholders."))
        t1, t2 = st.columns(2)
        t1.form_submit_button(_("Apply template"), on_click=_apply_template)
        t2.form_submit_button(_("Official template"), on_click=_reset_template)
    if ss[state.INSTR_TEMPLATE] != DEFAULT_TEMPLATE:
        st.info(_("A custom template is in use."), icon=":material/edit_note:")
    names = library.names()
    # Drop compared instructions deleted meanwhile (a multiselect value must be an option).
    if any(n not in names for n in ss[state.INSTR_COMPARE]):
        ss[state.INSTR_COMPARE] = [n for n in ss[state.INSTR_COMPARE] if n in names]
    st.multiselect(_("Compare instructions on the labelled set (up to {n})").format(n=MAX_ALTERNATIVES), names,
                   key=state.INSTR_COMPARE, persist_state="session", max_selections=MAX_ALTERNATIVES,
                   format_func={n: display_name(n) for n in names}.__getitem__)
    with st.expander(_("Manage instructions")):
        library_editor(library)
    return instruction


def _preview(queries: list[str], documents: list[str], variant: Variant) -> None:
    st.subheader(_("3 · What is sent to the model"))
    preview = _input_preview(queries, documents, variant)
    p1, p2 = st.columns(2)
    p1.caption(_("Query 1 · {n} tokens").format(n=preview["Tokens"][0]))
    p1.code(preview["Sent to the model"][0], language=None, wrap_lines=True)
    p2.caption(_("Document 1 · {n} tokens").format(n=preview["Tokens"][len(queries)]))
    p2.code(preview["Sent to the model"][len(queries)], language=None, wrap_lines=True)
    with st.expander(_("Every input with its token count")):
        shown = preview.assign(Side=preview["Side"].map(_))
        st.dataframe(_headed(shown), hide_index=True, width="stretch")


def _comparison(ctx: PageContext, queries: list[str], documents: list[str], labels: np.ndarray,
                with_: Variant, others: Sequence[Variant]) -> Comparison | None:
    """The comparison of these inputs: kept in the session while they stay the same, so a rerun
    that changes nothing they depend on embeds nothing and computes nothing."""
    inputs = (ctx.embedder.model_id, ctx.embedder.dimensions, tuple(queries), tuple(documents),
              labels.tobytes(), with_, tuple(others))
    kept = ss[state.INSTR_RESULT]
    if kept is not None and kept[0] == inputs:
        return kept[1]
    names = input_names(queries, documents, [Variant(NO_INSTRUCTION), with_, *others], gettext=_)  # {text: what it is}
    vectors = embed_with_progress(ctx, list(names), _("Embedding queries and documents"), list(names.values()))
    if vectors is None:
        return None
    result = compare(queries, documents, labels, with_, others, list(names), vectors)
    ss[state.INSTR_RESULT] = (inputs, result)
    return result


# --- results ---------------------------------------------------------------------------------------


def _headed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its column names in the session's language (the data and exports keep English)."""
    return frame.rename(columns=_)


def _instruction_name(name: str) -> str:
    """An instruction's name as shown: the baseline's and the presets' translated, the user's as it is."""
    return _(name) if name == NO_INSTRUCTION else display_name(name)


def _results(c: Comparison) -> None:
    st.subheader(_("4 · Results"))
    if verdict := c.verdict():
        with st.container(key="instr_verdict"):
            st.info(" ".join(tr(sentence) for sentence in verdict), icon=":material/balance:")
    m = st.columns(4)
    vs_none = _("{change:+.4f} vs none")
    m[0].metric(_("Queries whose top-1 changed"), f"{c.top1_changed} / {len(c.queries)}")
    m[1].metric(_("Mean top-1 margin"), f"{c.margin_with:.4f}", vs_none.format(change=c.margin_with - c.margin_without))
    for col, label, column in ((m[2], _("Separation (labels)"), "Separation"), (m[3], _("MRR (labels)"), "MRR")):
        if (shown := c.label_change(column)) is not None:
            col.metric(label, f"{shown[0]:.4f}", vs_none.format(change=shown[1]))
    _heatmaps(c)
    st.markdown(_("**Per query: top-1 document and margin (top-1 − top-2)**"))
    st.dataframe(_headed(c.summary), hide_index=True, width="stretch")
    download_table(c.summary, "query_summary", "instr.dl.summary", label=_("Download CSV"))
    _ranking(c)
    if c.metrics is None:
        st.caption(_("Add relevance labels (section 1) to see separation, MRR and the instruction comparison."))
        return
    st.markdown(_("**Labelled set: separation and MRR per instruction**"))
    names = [_instruction_name(n) for n in c.metrics["Instruction"]]
    st.dataframe(_headed(c.metrics.assign(Instruction=names)), hide_index=True, width="stretch")
    bars = figures.instruction_comparison_bars(c.metrics, names, gettext=_)
    st.plotly_chart(bars, width="stretch", key="instr.chart.compare")
    b1, b2 = st.columns(2)
    with b1:
        download_table(c.metrics, "instruction_metrics", "instr.dl.metrics", label=_("Download CSV"))
    with b2:
        download_figure(bars, "instruction_comparison", "instr.dl.html.compare", label=_("Download HTML"))


def _heatmaps(c: Comparison) -> None:
    queries, documents = list(c.queries), list(c.documents)
    zmin, zmax = figures.shared_range(c.without, c.with_)
    with_title = _("With: {instruction}").format(instruction=_instruction_name(c.instruction))
    heatmaps = {
        "without": figures.similarity_heatmap(c.without, queries, documents, _("Without instruction"), zmin, zmax,
                                              gettext=_),
        "with": figures.similarity_heatmap(c.with_, queries, documents, with_title, zmin, zmax,
                                           show_query_labels=False, gettext=_),
        "difference": figures.difference_heatmap(c.diff, queries, documents, _("Difference (with − without)"),
                                                 gettext=_),
    }
    # Without and with side by side (the first carries the query labels for both, so it gets more
    # room), the difference below at full width: every heatmap wide enough for its labels and hovers.
    top = st.columns([1.25, 1])
    for col, name in zip([*top, st.container()], heatmaps, strict=True):
        with col:
            fig = heatmaps[name]
            st.plotly_chart(fig, width="stretch", key=f"instr.chart.{name}")
            d1, d2 = st.columns(2) if name != "difference" else st.columns([1, 1, 2])[:2]
            with d1:
                download_table(c.matrix_table(name), f"similarity_{name}", f"instr.dl.csv.{name}", label=_("Matrix CSV"))
            with d2:
                download_figure(fig, f"heatmap_{name}", f"instr.dl.html.{name}", label=_("Figure HTML"))


@st.fragment
def _ranking(c: Comparison) -> None:
    """The ranking table: moving its k reruns only this fragment, from the kept comparison."""
    st.markdown(_("**Ranking: documents in the top k without or with the instruction**"))
    top_k = 1
    if c.max_top_k > 1:
        state.keep_valid(state.INSTR_TOP_K, range(1, c.max_top_k + 1), fallback=c.max_top_k)
        top_k = st.slider("k", 1, c.max_top_k, key=state.INSTR_TOP_K, persist_state="session")
    ranking = c.ranking(top_k)
    st.dataframe(
        _headed(ranking), hide_index=True, width="stretch",
        column_config={_("Rank change"): st.column_config.NumberColumn(format="%+d", help=_("Positive = moved up")),
                       _("Score change"): st.column_config.NumberColumn(format="%+.4f")},
    )
    download_table(ranking, "ranking", "instr.dl.ranking", label=_("Download CSV"))
