"""Home page: what answers behind the connection, then the playground as a guided demo in six steps,
each a link to its page, and every page below."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components import nav
from components.i18n import _
from components.page import PageContext
from components.widgets import literal
from embedlab.messages import N_
from embedlab.served import Verdict


@dataclass(frozen=True)
class Step:
    page: str  # as st.page_link expects
    title: str  # N_-marked, translated where drawn
    text: str  # what to click, what to look for, what it means


STEPS = (
    Step(nav.SERVER_CHECK_PAGE, N_("Is it the model you think?"),
         N_("**Click** Run the server check. **Look for** the identity check: the model card's example scores "
            "reproduced within 0.01. **It means** every figure on the other pages is Qwen3-Embedding-0.6B's; "
            "if it fails, they describe another model (the banner on every page says so).")),
    Step("pages/1_Instructions.py", N_("What does a task instruction change?"),
         N_("**Click** Load on a bundled set, then Compare. **Look for** the queries whose top document changes "
            "with the instruction, and MRR with and without it. **It means** the instruction steers the query "
            "side only; the official evaluation reports gains of 1% to 5%, so small differences are expected.")),
    Step("pages/2_Chunking.py", N_("Should long documents be split?"),
         N_("**Click** Embed chunks and match on the sample policy. **Look for** the token counts, which chunk "
            "scores highest for the question, and whether it scores higher than the whole document. **It means** "
            "if the best chunk beats the whole document for your questions, split long documents before "
            "embedding them.")),
    Step("pages/4_Search.py", N_("Does a small per-domain store answer questions?"),
         N_("**Click** Build the three sample collections, then Search with a question. **Look for** the "
            "scores of the top hits and whether the collection is calibrated. **It means** a raw cosine score "
            "has no fixed meaning (each model has its own range): only a threshold calibrated on judged "
            "results separates answers from noise.")),
    Step("pages/5_Evaluate.py", N_("Which configuration retrieves best?"),
         N_("**Click** Run evaluation on a bundled labelled set. **Look for** nDCG@10 of each configuration "
            "and its difference to the baseline with its confidence interval. **It means** a difference whose "
            "interval includes zero is not an improvement, however the bars look.")),
    Step("pages/6_Benchmark.py", N_("Is the server fast enough?"),
         N_("**Click** Run benchmark. **Look for** P95 latency per batch size and throughput per concurrency. "
            "**It means** whether the tuning guide's \"P95 under 50 ms\" holds on your hardware, and which "
            "batch size to use.")),
)


def _identity_line(verdict: Verdict, server: bool) -> str:
    """One sentence on the model card's check, computed from its result."""
    result = verdict.identity
    if result is not None:
        diff = f"{result.evidence.get('max_score_difference', float('nan')):.4f}"
        if result.status == "pass":
            return _("Identity check passed: the model card's example scores are reproduced within {diff}.").format(
                diff=diff)
        if result.status == "warn":
            return _("Identity check: the scores match within {diff}, but not exactly (a quantised or "
                     "reduced-precision build).").format(diff=diff)
        return _("Identity check failed: this is not Qwen3-Embedding-0.6B as published.")
    if not server:
        return _("Identity: the in-process model is loaded from Qwen3-Embedding-0.6B's published weights.")
    if verdict.kind == "other":
        return _("Identity: not checked, since another model than Qwen3-Embedding-0.6B is configured.")
    if verdict.kind == "mismatch":
        return _("Identity: not checked, since the server already names another model.")
    return _("Identity: not checked yet (the server did not answer the check); run the Server check.")


def _connection(ctx: PageContext) -> None:
    """The connection's truth: configured and served model, the identity verdict."""
    with st.container(border=True):
        st.markdown(_("**Configured model:** {model} · dimensions: {dims}").format(
            model=literal(ctx.configured_model), dims=ctx.embedder.dimensions or _("full")))
        verdict = ctx.verdict
        if verdict is None:
            st.markdown(_("**Served model:** unknown: the server did not answer (see the sidebar)."))
            return
        served = ctx.embedder.served_model
        st.markdown(_("**Served model:** {model}").format(model=literal(served)) if served else
                    _("**Served model:** the server does not name it."))
        st.markdown(_identity_line(verdict, ctx.settings.backend == "server"))
        if not verdict.warns:
            st.success(_("The figures on every page are Qwen3-Embedding-0.6B's."), icon=":material/verified:")


def render(ctx: PageContext) -> None:
    st.title(_("Qwen3-Embedding Playground"))
    st.markdown(_(
        "See what **Qwen3-Embedding-0.6B** does with your texts: how a task instruction moves "
        "similarities, how long documents are tokenized and chunked, how a corpus clusters, how a "
        "small per-domain vector store answers questions, and how good and fast retrieval really is."
    ))
    st.subheader(_("What answers"))
    _connection(ctx)
    st.subheader(_("A guided demo in six steps"))
    for number, step in enumerate(STEPS, start=1):
        with st.container(border=True):
            st.page_link(step.page, label=_("Step {n}: {title}").format(n=number, title=_(step.title)),
                         icon=":material/arrow_forward:")
            st.markdown(_(step.text))
    st.caption(_(
        "Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents are embedded as they are. "
        "Vectors are L2-normalised, so cosine similarity is a dot product. Every embedding is cached "
        "on disk by (model, dimensions, exact text): nothing is embedded twice."
    ))
    entries = nav.page_entries()
    if entries:
        st.subheader(_("All pages"))
        for entry in entries:
            st.page_link(entry.path, label=_(entry.title))
            st.caption(_(entry.summary))
