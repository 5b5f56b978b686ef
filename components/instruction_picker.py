"""The instruction picker shared by every page (the library editor is the Instruction Lab's own)."""

from __future__ import annotations

import streamlit as st

from components import state
from embedlab.instructions import PRESETS, Instruction, InstructionLibrary

NO_INSTRUCTION = state.NO_INSTRUCTION


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
        persist_state="session",
        format_func=lambda n: f"{n} · preset" if n in entries and entries[n].preset else n,
        help="Task description prepended to queries as `Instruct: {task}\\nQuery:{query}`.",
    )
    if choice not in entries:  # NO_INSTRUCTION
        return None
    instr = entries[choice]
    st.text(instr.task)  # plain text: user tasks are never rendered as markdown
    return instr
