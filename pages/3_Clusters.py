"""UMAP maps of a corpus with and without an instruction: do the topics separate, and does the instruction help?"""

import streamlit as st

from components import clusters, page

embedder = page.setup("Clusters", "🗺️")
clusters.start_umap_warmup()

st.title("Clusters")
st.caption(
    "Two UMAP maps of the same texts: embedded as they are, and with a task instruction applied to "
    "every text (`Instruct: {task}\\nQuery:{text}`, as Qwen3-Embedding does for clustering). "
    "Colours show topic labels or the clusters found; the numbers say which setting separates the topics better."
)

corpus = clusters.choose_corpus()
if corpus is None:
    st.stop()
request = clusters.settings_form(corpus)
if request is None:
    st.info("Choose the settings and press **Build maps**.", icon=":material/map:")
    st.stop()
if request.corpus_key != corpus.key:
    st.info("The texts changed since the maps were built: press **Build maps** again.", icon=":material/refresh:")
    st.stop()

vectors = clusters.embed_corpus(embedder, corpus, request)
if vectors is None:
    st.stop()
sides = clusters.compute(corpus, request, vectors, clusters.model_key(embedder))
if sides is None:
    st.stop()
clusters.show_results(embedder, corpus, request, sides)
