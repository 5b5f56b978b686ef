"""The instruction library in the UI: a picker shared by every page, and the library editor."""

from __future__ import annotations

import streamlit as st

from components import state
from components.resources import current_settings
from embedlab.instructions import (
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_TASK_CHARS,
    PRESETS,
    Instruction,
    InstructionLibrary,
    LibraryError,
    load_library,
)

NO_INSTRUCTION = "(no instruction)"  # the widget value that means "embed the text as it is"


def pick_instruction(
    library: InstructionLibrary, key: str, label: str = "Instruction", allow_none: bool = True
) -> Instruction | None:
    """Selectbox over presets and the user's instructions; None means "no instruction".

    `key` must be declared with `state.widget(key, default)`: its value is the instruction's
    name (or NO_INSTRUCTION), kept across page switches, so tests can `set_value("HR policy")`.
    """
    assert key in state.WIDGETS, f"declare the picker key {key!r} in components/state.py"
    entries = {i.name: i for i in library.all()}
    options = [*([NO_INSTRUCTION] if allow_none else []), *entries]
    # A name deleted or renamed since it was chosen falls back to Qwen's default instruction.
    state.keep_valid(key, options, fallback=PRESETS[0].name)
    choice = st.selectbox(
        label,
        options,
        key=key,
        format_func=lambda n: f"{n} · preset" if n in entries and entries[n].preset else n,
        help="Task description prepended to queries as `Instruct: {task}\\nQuery:{query}`.",
    )
    if choice not in entries:  # NO_INSTRUCTION
        return None
    instr = entries[choice]
    st.text(instr.task)  # plain text: user tasks are never rendered as markdown
    return instr


NEW_ENTRY = "(new instruction)"


def _flash(kind: str, message: str) -> None:
    st.session_state.setdefault(state.INSTR_FLASH, []).append((kind, message))


def show_flash() -> None:
    """Messages left by library callbacks (they run before the script, so cannot draw)."""
    for kind, message in st.session_state.get(state.INSTR_FLASH, []):
        (st.success if kind == "success" else st.error)(message)
    st.session_state[state.INSTR_FLASH] = []


def _fill_editor() -> None:
    """Load the selected entry into the editor fields (callback of the 'Edit' selectbox)."""
    name = st.session_state.get("instr.w.edit_target", NEW_ENTRY)
    entry = current_library_quiet().get(name) if name != NEW_ENTRY else None
    st.session_state["instr.w.edit_name"] = entry.name if entry else ""
    st.session_state["instr.w.edit_task"] = entry.task if entry else ""
    st.session_state["instr.w.edit_note"] = entry.note if entry else ""


def current_library_quiet() -> InstructionLibrary:
    return load_library(current_settings().data_path)


def _select(picker_key: str, name: str | None) -> None:
    """Point the picker and the editor at `name` (callbacks may set widget state)."""
    st.session_state[picker_key] = name if name is not None else PRESETS[0].name
    st.session_state[state.INSTR_CHOICE] = st.session_state[picker_key]
    st.session_state["instr.w.edit_target"] = name if name is not None else NEW_ENTRY
    _fill_editor()


def _save(picker_key: str) -> None:
    lib = current_library_quiet()
    target = st.session_state.get("instr.w.edit_target", NEW_ENTRY)
    name = st.session_state.get("instr.w.edit_name", "")
    task = st.session_state.get("instr.w.edit_task", "")
    note = st.session_state.get("instr.w.edit_note", "")
    try:
        saved = lib.create(name, task, note) if target == NEW_ENTRY else lib.update(target, name, task, note)
    except LibraryError as exc:
        _flash("error", str(exc))  # the typed text stays in the fields
        return
    _flash("success", f"Saved instruction “{saved.name}”.")
    _select(picker_key, saved.name)


def _duplicate(picker_key: str) -> None:
    source = st.session_state.get(picker_key)
    try:
        copy = current_library_quiet().duplicate(source)
    except LibraryError as exc:
        _flash("error", str(exc))
        return
    _flash("success", f"Created “{copy.name}”; edit it below.")
    _select(picker_key, copy.name)


def _delete(picker_key: str) -> None:
    target = st.session_state.get("instr.w.edit_target", NEW_ENTRY)
    try:
        current_library_quiet().delete(target)
    except LibraryError as exc:
        _flash("error", str(exc))
        return
    _flash("success", f"Deleted “{target}”.")
    _select(picker_key, None)


def _import(picker_key: str) -> None:
    upload = st.session_state.get("instr.w.import_file")
    if upload is None:
        _flash("error", "Choose a JSON file to import first.")
        return
    try:
        result = current_library_quiet().import_json(upload.getvalue())
    except LibraryError as exc:
        _flash("error", f"Import rejected, the library is unchanged: {exc}")
        return
    _flash("success", f"Imported {result.added} new and {result.replaced} replaced instruction(s).")


def library_manager(picker_key: str) -> None:
    """Create, edit, duplicate, delete, import and export instructions.

    `picker_key` is the widget key of the page's pick_instruction, so that a saved or duplicated
    instruction becomes the selected one.
    """
    library = current_library_quiet()
    user_names = [i.name for i in library.user()]
    show_flash()
    edit, transfer = st.tabs(["Create or edit", "Import / export"])
    with edit:
        if st.session_state.get("instr.w.edit_target") not in [NEW_ENTRY, *user_names]:
            st.session_state["instr.w.edit_target"] = NEW_ENTRY
        left, right = st.columns([3, 2])
        left.selectbox("Edit", [NEW_ENTRY, *user_names], key="instr.w.edit_target", on_change=_fill_editor,
                       help="Presets are read-only: duplicate one to change it.")
        right.button("Duplicate the selected instruction", key="instr.duplicate", on_click=_duplicate,
                     args=(picker_key,), disabled=st.session_state.get(picker_key) not in library.names())
        with st.form("instr.edit_form", border=False):
            st.text_input("Name", key="instr.w.edit_name", max_chars=MAX_NAME_CHARS)
            st.text_area("Task description", key="instr.w.edit_task", height=90, max_chars=MAX_TASK_CHARS,
                         help="Usually one English sentence: what the query is and what to retrieve.")
            st.text_input("Note", key="instr.w.edit_note", max_chars=MAX_NOTE_CHARS)
            st.form_submit_button("Save instruction", on_click=_save, args=(picker_key,), type="primary")
        if st.session_state["instr.w.edit_target"] != NEW_ENTRY:
            with st.popover("Delete this instruction"):
                st.write("This cannot be undone (export the library first to keep a copy).")
                st.button("Delete", key="instr.delete", on_click=_delete, args=(picker_key,))
    with transfer:
        st.download_button("Export my instructions (JSON)", library.export_json().encode("utf-8"),
                           file_name="instructions.json", mime="application/json", key="instr.export",
                           disabled=not user_names)
        st.file_uploader("Import instructions (JSON)", type=["json"], key="instr.w.import_file",
                         help="The format of the export: {\"instructions\": [{\"name\", \"task\", \"note\"}]}.")
        st.button("Import", key="instr.import", on_click=_import, args=(picker_key,))
