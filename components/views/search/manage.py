"""The Search page's Manage tab: the collection's settings (description, threshold, instruction),
JSONL export and deletion."""

from __future__ import annotations

import streamlit as st

from components import state
from components.i18n import _
from components.instruction_picker import NO_INSTRUCTION, display_name, pick_instruction
from components.page import PageContext
from components.widgets import literal, show_error
from embedlab.stores.base import (
    CALIBRATED,
    SET_BY_HAND,
    UNCALIBRATED,
    CollectionSpec,
    StoreError,
    VectorStore,
)

ss = st.session_state


def _seed_settings_form(spec: CollectionSpec, options: list[str]) -> None:
    """Fill the settings form and the instruction picker from the collection's spec when they show
    another collection, or the spec changed since (saved here or in another session); typed edits
    are kept otherwise. `options`: the picker's instruction names."""
    seed = (spec.name, spec.description, spec.threshold, spec.threshold_source, spec.instruction_name)
    if ss[state.SEARCH_EDIT_SEED] != seed:
        ss[state.SEARCH_EDIT_DESCRIPTION] = spec.description
        ss[state.SEARCH_EDIT_THRESHOLD] = float(spec.threshold)
        own = spec.instruction_name or NO_INSTRUCTION
        if own in options:  # a name no longer in the library keeps the picker where it was
            ss[state.SEARCH_EDIT_INSTRUCTION] = own
        ss[state.SEARCH_EDIT_SEED] = seed


def _update(store: VectorStore, spec: CollectionSpec, notice: str, **changes: object) -> None:
    try:
        store.update(spec.name, **changes)
    except StoreError as exc:
        show_error(exc)
        return
    ss[state.SEARCH_NOTICE] = notice
    ss[state.SEARCH_RESULT] = None
    st.rerun()


def manage_panel(ctx: PageContext, store: VectorStore, spec: CollectionSpec) -> None:
    _collection_summary(ctx, spec)
    _settings_section(ctx, store, spec)
    _export_section(store, spec)
    _delete_section(store, spec)


def _collection_summary(ctx: PageContext, spec: CollectionSpec) -> None:
    """Model, dimension, creation date and the query instruction stored with the collection."""
    st.markdown(_("Model **{model}** · {dim} dimensions · created {created}").format(
        model=literal(spec.model_id), dim=spec.dim, created=literal(spec.created_at)))
    if spec.instruction_name:
        st.markdown(_("**Query instruction of this collection:** *{name}*").format(name=literal(display_name(spec.instruction_name))))
        st.text(spec.instruction)  # the task text stored with the collection, as queries are embedded
        entry = ctx.library.get(spec.instruction_name)
        if entry is not None and entry.task != spec.instruction:
            st.caption(_("The library's {name} has changed since it was set here; “Use this instruction” below "
                         "applies its current text.").format(name=literal(display_name(spec.instruction_name))))
    else:
        st.markdown(_("**Query instruction of this collection:** none (queries are embedded as they are)"))


def _settings_section(ctx: PageContext, store: VectorStore, spec: CollectionSpec) -> None:
    """Description and threshold (form), forgetting the threshold, and switching the instruction."""
    options = [NO_INSTRUCTION, *(i.name for i in ctx.library.all())]
    _seed_settings_form(spec, options)
    with st.form("search.w.settings_form"):
        st.text_input(_("Description"), key=state.SEARCH_EDIT_DESCRIPTION, persist_state="session")
        st.number_input(_("Similarity threshold"), 0.0, 1.0, step=0.05, key=state.SEARCH_EDIT_THRESHOLD,
                        persist_state="session",
                        help=_("Results below it are still shown, greyed out. A value typed here counts as set by "
                               "hand; a calibrated one comes from Evaluate (Apply to collection)."))
        st.caption(_("Threshold: {state}.").format(state=_threshold_words(spec)))
        if st.form_submit_button(_("Save settings"), key="search.w.save_settings"):
            _save_settings(store, spec)
    if spec.threshold_applies and st.button(_("Mark the threshold as uncalibrated"), key="search.w.forget_threshold",
                                            help=_("Nothing is greyed until it is calibrated again.")):
        _update(store, spec, _("The threshold of {name} is no longer applied.").format(name=repr(spec.name)),
                threshold_source=UNCALIBRATED, threshold_note="")
    st.caption(_("The instruction only changes how queries are embedded (documents carry none), so it can be "
                 "switched without re-ingesting."))
    instruction = pick_instruction(ctx.library, state.SEARCH_EDIT_INSTRUCTION, _("Change the query instruction"))
    if st.button(_("Use this instruction"), key="search.w.set_instruction"):
        name = instruction.name if instruction else ""
        notice = (_("{collection} now uses {name}.").format(collection=repr(spec.name), name=name) if name
                  else _("{collection} now uses no instruction.").format(collection=repr(spec.name)))
        _update(store, spec, notice, instruction_name=name, instruction=instruction.task if instruction else "")


def _export_section(store: VectorStore, spec: CollectionSpec) -> None:
    """The collection as JSONL, with or without its vectors."""
    st.subheader(_("Export"))
    vectors = st.checkbox(_("Include the vectors"), key=state.SEARCH_EXPORT_VECTORS, persist_state="session",
                          help=_("Without vectors the file is smaller; importing it re-embeds the texts."))
    if st.button(_("Prepare JSONL export"), key="search.w.export_prepare"):
        try:
            lines = store.export_jsonl(spec.name, include_embeddings=vectors)
        except StoreError as exc:
            show_error(exc)
        else:
            ss[state.SEARCH_EXPORT] = {"name": spec.name, "vectors": vectors,
                                       "data": "".join(lines).encode("utf-8"), "rows": len(lines)}
    export = ss[state.SEARCH_EXPORT]
    if export and export["name"] == spec.name:
        st.download_button(_("Download {name}.jsonl ({n} records)").format(name=literal(spec.name), n=export["rows"]),
                           export["data"], file_name=f"{spec.name}.jsonl", mime="application/jsonl",
                           key="search.w.export_download", on_click="ignore")


def _delete_section(store: VectorStore, spec: CollectionSpec) -> None:
    """Delete the collection once its name is typed."""
    st.subheader(_("Delete"))
    confirm = st.text_input(_("Type {name} to confirm").format(name=literal(spec.name)), key=state.SEARCH_DELETE_CONFIRM,
                            persist_state="session")
    if st.button(_("Delete collection"), key="search.w.delete", disabled=confirm.strip() != spec.name):
        try:
            store.delete(spec.name)
        except StoreError as exc:
            show_error(exc)
            return
        ss[state.SEARCH_ACTIVE] = None
        ss[state.SEARCH_RESULT] = None
        ss[state.SEARCH_EXPORT] = None
        ss[state.SEARCH_NOTICE] = _("Deleted {name}.").format(name=repr(spec.name))
        del ss[state.SEARCH_DELETE_CONFIRM]
        st.rerun()

def _threshold_words(spec: CollectionSpec) -> str:
    """Where the collection's threshold came from, in words (for Manage)."""
    if spec.threshold_source == CALIBRATED:
        note = f" ({literal(spec.threshold_note)})" if spec.threshold_note else ""
        return _("{value:.4f}, calibrated in Evaluate{note}").format(value=spec.threshold, note=note)
    if spec.threshold_source == SET_BY_HAND:
        return _("{value:.4f}, set by hand").format(value=spec.threshold)
    return _("not calibrated, so nothing is greyed (calibrate it in Evaluate: Apply to collection)")


def _save_settings(store: VectorStore, spec: CollectionSpec) -> None:
    """Save description and threshold; a threshold typed here (changed, or saved while uncalibrated
    with another value) counts as set by hand, an untouched one keeps where it came from."""
    threshold = float(ss[state.SEARCH_EDIT_THRESHOLD])
    changes: dict[str, object] = {"description": ss[state.SEARCH_EDIT_DESCRIPTION].strip(), "threshold": threshold}
    if abs(threshold - spec.threshold) > 1e-9:
        changes.update(threshold_source=SET_BY_HAND, threshold_note="")
    _update(store, spec, _("Saved the settings of {name}.").format(name=repr(spec.name)), **changes)
