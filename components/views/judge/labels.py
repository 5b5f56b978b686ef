"""The Judge page's names of configurations, grade sources and table columns, in the session's language."""

from __future__ import annotations

from components.i18n import _
from components.instruction_picker import display_name
from embedlab import judgments as jd


def instruction_label(c: jd.JudgeConfig) -> str:
    """The configuration's instruction, in the session's language (a library name as it is)."""
    if not c.uses_vectors:
        return _("none (BM25)")
    if c.instruction_name == jd.COLLECTION_INSTRUCTION:
        return _("the collection's")
    if not c.instruction.strip():
        return _("none")
    return display_name(c.instruction_name) if c.instruction_name else _("custom")


def length_label(max_tokens: int | None) -> str:
    return _("≤{n} tokens").format(n=f"{max_tokens:,}") if max_tokens else _("full length")


def dimensions_label(c: jd.JudgeConfig) -> str:
    if not c.uses_vectors:
        return _("n/a")
    return _("{d} d").format(d=c.dimensions) if c.dimensions else _("full")


def config_label(c: jd.JudgeConfig) -> str:
    """"instruction: … · input length · dimensions · mode[ · rerank]", translated."""
    if not c.uses_vectors:
        parts = [_(jd.MODE_LABELS[c.mode]), length_label(c.max_tokens)]
    else:
        parts = [_("instruction: {name}").format(name=instruction_label(c)), length_label(c.max_tokens),
                 _("{d} d").format(d=c.dimensions) if c.dimensions else _("full dim"), _(jd.MODE_LABELS[c.mode])]
    if c.rerank:
        parts.append(_("rerank"))
    return " · ".join(parts)


def source_label(source: str, kinds: dict[str, str]) -> str:
    """The name of a grade source: the people's median, the LLM judge, or one rater."""
    if source == jd.PEOPLE:
        people = sum(k == jd.PERSON for k in kinds.values())
        # Two msgids, not _n: the catalog's tooling fills singular msgids only (Chinese has one form).
        return (_("People (median of {n} rater)") if people == 1 else _("People (median of {n} raters)")).format(n=people)
    if source == jd.LLM_SOURCE:
        return _("The LLM judge")
    return _("Only {rater}").format(rater=source)
