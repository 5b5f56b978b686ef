"""A selectbox over the instruction library, shared by every page that embeds queries."""

from __future__ import annotations

import streamlit as st

from components.resources import current_settings
from embedlab.instructions import PRESETS, Instruction, InstructionLibrary, load_library

NO_INSTRUCTION = "(no instruction)"  # the widget value that means "embed the text as it is"


def current_library() -> InstructionLibrary:
    """The instruction library stored under this session's data directory."""
    library = load_library(current_settings().data_path)
    library.all()  # reads the file once so that a broken one is reported below
    if library.warning:
        st.warning(library.warning, icon=":material/warning:")
    return library


def pick_instruction(key: str, label: str = "Instruction", allow_none: bool = True) -> Instruction | None:
    """Selectbox over presets and the user's instructions; None means "no instruction".

    The widget value is the instruction's name (or NO_INSTRUCTION), so tests can
    `set_value("HR policy")` or `set_value(NO_INSTRUCTION)`.
    Defaults to Qwen's web-search instruction.
    """
    library = current_library()
    entries = {i.name: i for i in library.all()}
    options = [*([NO_INSTRUCTION] if allow_none else []), *entries]
    # A name that was deleted or renamed since it was chosen falls back to the default.
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    choice = st.selectbox(
        label,
        options,
        index=options.index(PRESETS[0].name),
        key=key,
        format_func=lambda n: f"{n} · preset" if n in entries and entries[n].preset else n,
        help="Task description prepended to queries as `Instruct: {task}\\nQuery:{query}`.",
    )
    if choice not in entries:  # NO_INSTRUCTION (or no selection)
        return None
    instr = entries[choice]
    st.text(instr.task)  # plain text: user tasks are never rendered as markdown
    return instr
