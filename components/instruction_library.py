"""The Instruction Lab's library editor (create, edit, duplicate, delete, import, export) and its
one-off messages. Only the Instruction Lab uses it: it points the Lab's picker at what it saves.

Callbacks run before the script, so they may set widget values but cannot draw: they leave
messages in INSTR_FLASH for `show_flash`. They receive the page's library through `args=`.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from components import state
from components.i18n import _
from components.widgets import error_text, literal
from embedlab.instructions import (
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_TASK_CHARS,
    PRESETS,
    InstructionLibrary,
    LibraryError,
)
from embedlab.messages import N_

NEW_ENTRY = state.WIDGETS[state.INSTR_EDIT_TARGET]  # the editor's "(new instruction)" entry
NEW_ENTRY_LABEL = N_("(new instruction)")  # what the editor's list shows for NEW_ENTRY
ss = st.session_state


def flash(kind: str, message: str) -> None:
    """Keep a message ("success" or "error"), already in the session's language, for the next
    `show_flash`."""
    ss[state.INSTR_FLASH].append((kind, message))


def show_flash() -> None:
    """Show, once, the messages left by callbacks (literally: they quote names and file contents)."""
    for kind, message in ss[state.INSTR_FLASH]:
        (st.success if kind == "success" else st.error)(literal(message))
    ss[state.INSTR_FLASH] = []


# --- callbacks ---------------------------------------------------------------------------------


def _fill_editor(library: InstructionLibrary) -> None:
    """Load the entry chosen in "Edit" into the editor's fields."""
    name = ss[state.INSTR_EDIT_TARGET]
    entry = library.get(name) if name != NEW_ENTRY else None
    ss[state.INSTR_EDIT_NAME] = entry.name if entry else ""
    ss[state.INSTR_EDIT_TASK] = entry.task if entry else ""
    ss[state.INSTR_EDIT_NOTE] = entry.note if entry else ""


def _select(library: InstructionLibrary, name: str | None) -> None:
    """Point the Lab's picker and the editor at `name` (None: Qwen's default, a new entry)."""
    ss[state.INSTR_PICK] = name if name is not None else PRESETS[0].name
    ss[state.INSTR_EDIT_TARGET] = name if name is not None else NEW_ENTRY
    _fill_editor(library)


def _save(library: InstructionLibrary) -> None:
    target = ss[state.INSTR_EDIT_TARGET]
    name, task, note = ss[state.INSTR_EDIT_NAME], ss[state.INSTR_EDIT_TASK], ss[state.INSTR_EDIT_NOTE]
    try:
        saved = library.create(name, task, note) if target == NEW_ENTRY else library.update(target, name, task, note)
    except LibraryError as exc:
        flash("error", error_text(exc))  # the typed text stays in the fields
        return
    flash("success", _("Saved instruction “{name}”.").format(name=saved.name))
    _select(library, saved.name)


def _duplicate(library: InstructionLibrary) -> None:
    try:
        copy = library.duplicate(ss[state.INSTR_PICK])
    except LibraryError as exc:
        flash("error", error_text(exc))
        return
    flash("success", _("Created “{name}”; edit it below.").format(name=copy.name))
    _select(library, copy.name)


def _delete(library: InstructionLibrary) -> None:
    target = ss[state.INSTR_EDIT_TARGET]
    try:
        library.delete(target)
    except LibraryError as exc:
        flash("error", error_text(exc))
        return
    flash("success", _("Deleted “{name}”.").format(name=target))
    _select(library, None)


def _import(library: InstructionLibrary) -> None:
    upload = ss.get(state.INSTR_IMPORT_FILE)
    if upload is None:
        flash("error", _("Choose a JSON file to import first."))
        return
    try:
        result = library.import_json(upload.getvalue())
    except LibraryError as exc:
        flash("error", _("Import rejected, the library is unchanged: {error}").format(error=error_text(exc)))
        return
    flash("success", _("Imported {added} new and {replaced} replaced instruction(s).").format(
        added=result.added, replaced=result.replaced))


# --- the editor --------------------------------------------------------------------------------


def _entry_label() -> Callable[[str], str]:
    """The editor list's labels in this run's language (made now: AppTest formats outside the run)."""
    new = _(NEW_ENTRY_LABEL)
    return lambda name: new if name == NEW_ENTRY else name


def library_editor(library: InstructionLibrary) -> None:
    """Create, edit, duplicate, delete, import and export the user's instructions.

    A saved or duplicated instruction becomes the one chosen in the Lab's picker (INSTR_PICK).
    """
    user_names = [i.name for i in library.user()]
    edit, transfer = st.tabs([_("Create or edit"), _("Import / export")])
    with edit:
        state.keep_valid(state.INSTR_EDIT_TARGET, [NEW_ENTRY, *user_names], fallback=NEW_ENTRY)
        left, right = st.columns([3, 2])
        # User names are shown as they are; only the "(new instruction)" entry is translated.
        left.selectbox(_("Edit"), [NEW_ENTRY, *user_names], key=state.INSTR_EDIT_TARGET, persist_state="session",
                       on_change=_fill_editor, args=(library,),
                       format_func=_entry_label(),
                       help=_("Presets are read-only: duplicate one to change it."))
        right.button(_("Duplicate the selected instruction"), key="instr.duplicate", on_click=_duplicate,
                     args=(library,), disabled=ss.get(state.INSTR_PICK) not in library.names())
        with st.form("instr.edit_form", border=False):
            st.text_input(_("Name"), key=state.INSTR_EDIT_NAME, persist_state="session", max_chars=MAX_NAME_CHARS)
            st.text_area(_("Task description"), key=state.INSTR_EDIT_TASK, persist_state="session", height=90,
                         max_chars=MAX_TASK_CHARS,
                         help=_("Usually one English sentence: what the query is and what to retrieve."))
            st.text_input(_("Note"), key=state.INSTR_EDIT_NOTE, persist_state="session", max_chars=MAX_NOTE_CHARS)
            st.form_submit_button(_("Save instruction"), on_click=_save, args=(library,), type="primary")
        if ss[state.INSTR_EDIT_TARGET] != NEW_ENTRY:
            with st.popover(_("Delete this instruction")):
                st.write(_("This cannot be undone (export the library first to keep a copy)."))
                st.button(_("Delete"), key="instr.delete", on_click=_delete, args=(library,))
    with transfer:
        # The file is written when the button is clicked (and the click does not rerun the page).
        st.download_button(_("Export my instructions (JSON)"), lambda: library.export_json().encode("utf-8"),
                           file_name="instructions.json", mime="application/json", key="instr.export",
                           disabled=not user_names, on_click="ignore")
        st.file_uploader(_("Import instructions (JSON)"), type=["json"], key=state.INSTR_IMPORT_FILE,
                         help=_("The format of the export: {example}.").format(
                             example='{"instructions": [{"name", "task", "note"}]}'))
        st.button(_("Import"), key="instr.import", on_click=_import, args=(library,))
