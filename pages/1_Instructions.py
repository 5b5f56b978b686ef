"""Instruction Lab: see how a task instruction changes query–document similarities and rankings."""

import streamlit as st

from components import page
from components import state as S
from components.instruction_picker import current_library, library_manager, pick_instruction, show_flash
from components.widgets import download_figure, download_table, embed_with_progress
from embedlab import figures
from embedlab.instruction_sets import join_items, sample_sets, split_items
from embedlab.instructions import DEFAULT_TEMPLATE, template_problems
from embedlab.similarity import (
    Variant,
    difference,
    input_names,
    input_preview,
    labels_frame,
    labels_from_pairs,
    matrix_frame,
    metrics_table,
    pairs_from_frame,
    query_summary,
    ranking_table,
    rounded,
    top1_margin,
    variant_similarity,
)

MAX_TEXTS = 200  # per side: keeps heatmaps readable and one click affordable
PICK = "instr.w.pick"
ss = st.session_state


# --- callbacks (run before the script, so they may set widget values) --------------------------


def load_sample() -> None:
    sample = sample_sets()[ss["instr.w.sample"]]
    ss[S.INSTR_SAMPLE] = sample.name
    ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS] = list(sample.queries), list(sample.documents)
    ss[S.INSTR_PAIRS] = [list(p) for p in sample.pairs]
    ss["instr.w.queries"], ss["instr.w.documents"] = join_items(sample.queries), join_items(sample.documents)
    ss[S.INSTR_SYMMETRIC] = ss["instr.w.mode"] = sample.symmetric
    if sample.instruction:
        ss[S.INSTR_CHOICE] = ss[PICK] = sample.instruction


def apply_texts() -> None:
    queries, documents = split_items(ss["instr.w.queries"]), split_items(ss["instr.w.documents"])
    if not queries or not documents:
        ss[S.INSTR_FLASH].append(("error", "Enter at least one query and one document; nothing was changed."))
        return
    if len(queries) > MAX_TEXTS or len(documents) > MAX_TEXTS:
        ss[S.INSTR_FLASH].append(("error", f"At most {MAX_TEXTS} queries and {MAX_TEXTS} documents; nothing was changed."))
        return
    ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS] = queries, documents


def apply_template() -> None:
    problems = template_problems(ss["instr.w.template"])
    if problems:
        ss[S.INSTR_FLASH].append(("error", "Template not applied: " + " ".join(problems)))
        return
    ss[S.INSTR_TEMPLATE] = ss["instr.w.template"]


def reset_template() -> None:
    ss[S.INSTR_TEMPLATE] = ss["instr.w.template"] = DEFAULT_TEMPLATE


def save_labels(key: str) -> None:
    frame = ss[key]  # the editor's edits are applied below to the grid we drew
    grid = labels_frame(ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS],
                        labels_from_pairs(ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS], ss[S.INSTR_PAIRS]))
    for row, changes in frame.get("edited_rows", {}).items():
        for col, value in changes.items():
            grid.iloc[int(row), grid.columns.get_loc(col)] = bool(value)
    ss[S.INSTR_PAIRS] = [list(p) for p in pairs_from_frame(ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS], grid)]


def start() -> None:
    ss[S.INSTR_ACTIVE] = True


# --- page ------------------------------------------------------------------------------------

embedder = page.setup("Instruction Lab", "🧪")
sets = sample_sets()
if ss[S.INSTR_QUERIES] is None:  # first visit: start from a bundled set
    ss["instr.w.sample"] = ss[S.INSTR_SAMPLE] if ss[S.INSTR_SAMPLE] in sets else next(iter(sets))
    load_sample()
# Widget keys vanish on page switches: restore them from the applied values.
for widget, value in {
    "instr.w.queries": join_items(ss[S.INSTR_QUERIES]),
    "instr.w.documents": join_items(ss[S.INSTR_DOCUMENTS]),
    "instr.w.template": ss[S.INSTR_TEMPLATE],
    "instr.w.mode": ss[S.INSTR_SYMMETRIC],
    "instr.w.sample": ss[S.INSTR_SAMPLE],
    "instr.w.compare": ss[S.INSTR_COMPARE],
    "instr.w.top_k": ss[S.INSTR_TOP_K],
    PICK: ss[S.INSTR_CHOICE],
}.items():
    ss.setdefault(widget, value)
# Drop compared instructions that were deleted meanwhile (a multiselect value must be an option).
ss["instr.w.compare"] = [n for n in ss["instr.w.compare"] if current_library().get(n)]
ss["instr.w.top_k"] = max(1, min(ss["instr.w.top_k"], 10, len(ss[S.INSTR_DOCUMENTS])))

st.title("Instruction Lab")
st.caption(
    "Qwen3-Embedding reads queries as `Instruct: {task}\\nQuery:{query}`. Pick a sample set, pick or "
    "write an instruction and press **Compare** to see how every similarity and ranking moves."
)
show_flash()

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("1 · Queries and documents")
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox("Sample set", list(sets), key="instr.w.sample",
                 help="Original texts in English and Chinese, with relevance labels.")
    c2.button("Load", key="instr.load_sample", on_click=load_sample, width="stretch")
    with st.form("instr.texts_form"):
        q_col, d_col = st.columns(2)
        q_col.text_area("Queries", key="instr.w.queries", height=220,
                        help="One per line. For texts over several lines, put a line with only --- between them.")
        d_col.text_area("Documents", key="instr.w.documents", height=220,
                        help="One per line. For texts over several lines (code), put a line with only --- between them.")
        st.form_submit_button("Apply texts", on_click=apply_texts)
    queries, documents = ss[S.INSTR_QUERIES], ss[S.INSTR_DOCUMENTS]
    labels = labels_from_pairs(queries, documents, ss[S.INSTR_PAIRS])
    with st.expander(f"Relevance labels · {int(labels.sum())} pairs (which documents answer which query)"):
        grid_key = f"instr.w.labels.{hash((tuple(queries), tuple(documents)))}"
        with st.form("instr.labels_form", border=False):
            st.data_editor(labels_frame(queries, documents, labels), key=grid_key, width="stretch")
            st.form_submit_button("Save labels", on_click=save_labels, args=(grid_key,))

with right:
    st.subheader("2 · Instruction")
    instruction = pick_instruction(PICK)
    ss[S.INSTR_CHOICE] = ss[PICK]
    symmetric = st.radio(
        "Mode", [False, True], key="instr.w.mode", horizontal=True,
        format_func=lambda s: "Symmetric: queries and documents" if s else "Asymmetric: queries only (retrieval)",
        help="Qwen instructs only queries for retrieval, and both sides for similarity and clustering.",
    )
    ss[S.INSTR_SYMMETRIC] = symmetric
    with st.form("instr.template_form"):
        st.text_area("Template", key="instr.w.template", height=70,
                     help="Must contain {query} once; {task} is the instruction. No other placeholders.")
        t1, t2 = st.columns(2)
        t1.form_submit_button("Apply template", on_click=apply_template)
        t2.form_submit_button("Official template", on_click=reset_template)
    if ss[S.INSTR_TEMPLATE] != DEFAULT_TEMPLATE:
        st.info("A custom template is in use.", icon=":material/edit_note:")
    compare = st.multiselect("Compare instructions on the labelled set (up to three)",
                             current_library().names(), key="instr.w.compare", max_selections=3)
    ss[S.INSTR_COMPARE] = compare
    with st.expander("Manage instructions"):
        library_manager(PICK)

template = ss[S.INSTR_TEMPLATE]
without = Variant("No instruction")
with_ = Variant(instruction.name, instruction.task, template, symmetric) if instruction else None

st.subheader("3 · What is sent to the model")
preview = input_preview(queries, documents, with_ or without)
p1, p2 = st.columns(2)
p1.caption(f"Query 1 · {preview['Tokens'][0]} tokens")
p1.code(preview["Sent to the model"][0], language=None, wrap_lines=True)
p2.caption(f"Document 1 · {preview['Tokens'][len(queries)]} tokens")
p2.code(preview["Sent to the model"][len(queries)], language=None, wrap_lines=True)
with st.expander("Every input with its token count"):
    st.dataframe(preview, hide_index=True, width="stretch")

st.button("Compare", key="instr.run", type="primary", on_click=start, disabled=with_ is None,
          help="Embeds every text without and with the instruction (each distinct text once, cached).")
if with_ is None:
    st.info("Choose an instruction to compare against “no instruction”.")
if not ss[S.INSTR_ACTIVE] or with_ is None:
    st.stop()

# --- results ---------------------------------------------------------------------------------

library = current_library()
others = [Variant(i.name, i.task, template, symmetric) for n in compare if (i := library.get(n))]
names = input_names(queries, documents, [without, with_, *others])  # {text to embed: what it is}
texts = list(names)
vectors = embed_with_progress(embedder, texts, "Embedding queries and documents", list(names.values()))
if vectors is None:
    st.stop()
sim_without = rounded(variant_similarity(queries, documents, without, texts, vectors))
sim_with = rounded(variant_similarity(queries, documents, with_, texts, vectors))
diff = difference(sim_with, sim_without)
has_labels = bool(labels.any())

st.subheader("4 · Results")
summary = query_summary(queries, documents, sim_without, sim_with, labels if has_labels else None)
metrics = metrics_table([("No instruction", sim_without), (with_.name, sim_with)], labels) if has_labels else None
m = st.columns(4)
m[0].metric("Queries whose top-1 changed", f"{int(summary['Top-1 changed'].sum())} / {len(queries)}")
margin_wo, margin_w = float(top1_margin(sim_without).mean()), float(top1_margin(sim_with).mean())
m[1].metric("Mean top-1 margin", f"{margin_w:.4f}", f"{margin_w - margin_wo:+.4f} vs none")
if metrics is not None:
    m[2].metric("Separation (labels)", f"{metrics['Separation'][1]:.4f}",
                f"{metrics['Separation'][1] - metrics['Separation'][0]:+.4f} vs none")
    m[3].metric("MRR (labels)", f"{metrics['MRR'][1]:.4f}", f"{metrics['MRR'][1] - metrics['MRR'][0]:+.4f} vs none")

zmin, zmax = figures.shared_range(sim_without, sim_with)
heatmaps = {
    "without": (sim_without, figures.similarity_heatmap(sim_without, queries, documents, "Without instruction", zmin, zmax)),
    "with": (sim_with, figures.similarity_heatmap(sim_with, queries, documents, f"With: {with_.name}", zmin, zmax,
                                                         show_query_labels=False)),
    "difference": (diff, figures.difference_heatmap(diff, queries, documents, "Difference (with − without)",
                                                           show_query_labels=False)),
}
# The first heatmap carries the query labels for all three, so it gets more room.
for col, (name, (matrix, fig)) in zip(st.columns([1.5, 1, 1]), heatmaps.items(), strict=True):
    with col:
        st.plotly_chart(fig, width="stretch", key=f"instr.chart.{name}")
        d1, d2 = st.columns(2)
        with d1:
            download_table(matrix_frame(matrix, queries, documents), f"similarity_{name}", f"instr.dl.csv.{name}",
                           label="Matrix CSV")
        with d2:
            download_figure(fig, f"heatmap_{name}", f"instr.dl.html.{name}", label="Figure HTML")

st.markdown("**Per query: top-1 document and margin (top-1 − top-2)**")
st.dataframe(summary, hide_index=True, width="stretch")
download_table(summary, "query_summary", "instr.dl.summary")

st.markdown("**Ranking: documents in the top k without or with the instruction**")
top_k = st.slider("k", 1, max(1, min(10, len(documents))), key="instr.w.top_k") if len(documents) > 1 else 1
ss[S.INSTR_TOP_K] = top_k
ranking = ranking_table(queries, documents, sim_without, sim_with, labels if has_labels else None, top_k)
st.dataframe(
    ranking, hide_index=True, width="stretch",
    column_config={"Rank change": st.column_config.NumberColumn(format="%+d", help="Positive = moved up"),
                   "Score change": st.column_config.NumberColumn(format="%+.4f")},
)
download_table(ranking, "ranking", "instr.dl.ranking")

if metrics is not None:
    st.markdown("**Labelled set: separation and MRR per instruction**")
    compared = metrics_table(
        [("No instruction", sim_without), (with_.name, sim_with)]
        + [(v.name, rounded(variant_similarity(queries, documents, v, texts, vectors))) for v in others
           if v.name != with_.name],
        labels,
    )
    st.dataframe(compared, hide_index=True, width="stretch")
    bars = figures.instruction_comparison_bars(compared)
    st.plotly_chart(bars, width="stretch", key="instr.chart.compare")
    b1, b2 = st.columns(2)
    with b1:
        download_table(compared, "instruction_metrics", "instr.dl.metrics")
    with b2:
        download_figure(bars, "instruction_comparison", "instr.dl.html.compare")
else:
    st.caption("Add relevance labels (section 1) to see separation, MRR and the instruction comparison.")
