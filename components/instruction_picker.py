"""The instruction picker shared by every page (the library editor is the Instruction Lab's own)."""

from __future__ import annotations

import streamlit as st

from components import state
from components.i18n import _
from embedlab.instructions import PRESETS, Instruction, InstructionLibrary
from embedlab.messages import N_

NO_INSTRUCTION = state.NO_INSTRUCTION
NO_INSTRUCTION_LABEL = N_("(no instruction)")  # what the picker shows for NO_INSTRUCTION


PRESET_NAMES = frozenset(p.name for p in PRESETS)


def display_name(name: str) -> str:
    """An instruction's name as shown: the presets' names are ours and translated, the user's are
    shown as written (pass the result through `literal` where Markdown draws it)."""
    return _(name) if name in PRESET_NAMES else name


def pick_instruction(
    library: InstructionLibrary, key: str, label: str | None = None, allow_none: bool = True
) -> Instruction | None:
    """Selectbox over presets and the user's instructions; None means "no instruction".

    `label` is translated by the caller (default "Instruction"). The presets' names are ours and
    translated; the user's names are shown as they are. Task texts stay as written: they are what
    the model receives (Qwen recommends English instructions).

    `key` must be declared with `state.widget(key, default)`: its value is the instruction's
    name (or NO_INSTRUCTION), kept across page switches, so tests can `set_value("HR policy")`.
    """
    assert key in state.WIDGETS, f"declare the picker key {key!r} in components/state.py"
    entries = {i.name: i for i in library.all()}
    options = [*([NO_INSTRUCTION] if allow_none else []), *entries]
    # A name deleted or renamed since it was chosen falls back to Qwen's default instruction.
    state.keep_valid(key, options, fallback=PRESETS[0].name)

    # Labels made now, in this run's language: a format_func that translated when called would
    # follow whatever language is current where it is called (AppTest calls it outside the run).
    preset = _("{name} · preset")
    shown = {n: (preset.format(name=display_name(n)) if entries[n].preset else n) if n in entries else _(NO_INSTRUCTION_LABEL)
             for n in options}
    choice = st.selectbox(
        label or _("Instruction"),
        options,
        key=key,
        persist_state="session",
        format_func=shown.__getitem__,
        help=_("Task description prepended to queries as `Instruct: {task}\\nQuery:{query}`.").format(
            task="{task}", query="{query}"),
    )
    if choice not in entries:  # NO_INSTRUCTION
        return None
    instr = entries[choice]
    st.text(instr.task)  # plain text: user tasks are never rendered as markdown
    return instr
