"""The Evaluate page's grid form: its choices as the widgets hold them, the limits of one run, and
the lines shown above the results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embedlab import fusion
from embedlab.evaluation.datasets import LabelledSet
from embedlab.evaluation.grid import (
    DEFAULT_CHUNK_TOKENS,
    RESCORE_TOP,
    TRUNCATION_CHOICES,
    ConfigResult,
    EvalConfig,
    GridPlan,
    make_grid,
    oversized,
    plan_grid,
    usable_dimensions,
)
from embedlab.messages import N_, LocalizedError, Message, message_of
from embedlab.text import one_line

MAX_CONFIGS = 48  # one click should stay affordable and the charts readable
MAX_INPUTS = 20_000  # distinct model inputs per run
FULL = "full"  # the choice meaning "no truncation" / "the model's full size"
TRUNCATIONS: dict[str, int | None] = {f"{t} tokens" if t else FULL: t for t in TRUNCATION_CHOICES}
DOCUMENT_MODES: dict[str, bool] = {"whole documents": False, "chunked (max-sim over chunks)": True}
RETRIEVAL_MODES: dict[str, str] = {
    "dense": "dense", "BM25": "bm25",
    f"hybrid (RRF, k={fusion.RRF_K})": "hybrid-rrf",
    f"hybrid (weighted, α={fusion.DEFAULT_ALPHA})": "hybrid-weighted",
}
PRECISION_CHOICES: dict[str, tuple[str, bool]] = {
    "float32": ("float32", False), "int8": ("int8", False),
    f"int8 + float rescore top {RESCORE_TOP}": ("int8", True),
    "binary": ("binary", False), f"binary + float rescore top {RESCORE_TOP}": ("binary", True),
}


# What each choice's key (the stored widget value) shows; keys not listed show as they are.
CHOICE_LABELS: dict[str, Message] = {
    FULL: Message(N_("full")),
    **{key: Message(N_("{n} tokens"), {"n": t}) for key, t in TRUNCATIONS.items() if t},
    "whole documents": Message(N_("whole documents")),
    "chunked (max-sim over chunks)": Message(N_("chunked (max-sim over chunks)")),
    "dense": Message(N_("dense")),
    f"hybrid (RRF, k={fusion.RRF_K})": Message(N_("hybrid (RRF, k={k})"), {"k": fusion.RRF_K}),
    f"hybrid (weighted, α={fusion.DEFAULT_ALPHA})": Message(N_("hybrid (weighted, α={alpha})"),
                                                          {"alpha": fusion.DEFAULT_ALPHA}),
    "binary": Message(N_("binary")),
    f"int8 + float rescore top {RESCORE_TOP}": Message(N_("int8 + float rescore top {n}"), {"n": RESCORE_TOP}),
    f"binary + float rescore top {RESCORE_TOP}": Message(N_("binary + float rescore top {n}"), {"n": RESCORE_TOP}),
}


def choice_label(key: str, gettext: Callable[[str], str]) -> str:
    """The shown text of a grid choice's stored key, in the language of `gettext`."""
    label = CHOICE_LABELS.get(key)
    return key if label is None else label.translate(gettext)


class GridError(LocalizedError, ValueError):
    """The chosen grid cannot run; its message says what to change."""


def dimension_options(full: int | None) -> list[str]:
    """The dimension choices for a model of `full` size: "full", then the smaller Matryoshka
    sizes as text (every size when the model's size is unknown)."""
    return [FULL, *(str(d) for d in usable_dimensions(full or 10**9) if d)]


@dataclass(frozen=True)
class GridChoices:
    """The values of the grid form, as its widgets hold them.

    instructions: (name, task) of each chosen instruction; an empty task means no instruction.
    custom: a typed task ("" = none), added as the configuration "custom".
    truncations, documents: keys of TRUNCATIONS and DOCUMENT_MODES; dimensions: from
        `dimension_options`; modes: keys of RETRIEVAL_MODES; precisions: keys of PRECISION_CHOICES.
    """

    instructions: tuple[tuple[str, str], ...]
    custom: str = ""
    truncations: tuple[str, ...] = (FULL,)
    dimensions: tuple[str, ...] = (FULL,)
    documents: tuple[str, ...] = ("whole documents",)
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    modes: tuple[str, ...] = ("dense",)
    precisions: tuple[str, ...] = ("float32",)

    def configs(self) -> list[EvalConfig]:
        """Every combination of the choices (empty when an axis has no value)."""
        instructions = [("none", "") if not task.strip() else (name, task) for name, task in self.instructions]
        if self.custom.strip():
            instructions.append(("custom", self.custom.strip()))
        return make_grid(
            instructions,
            [TRUNCATIONS[t] for t in self.truncations],
            [None if d == FULL else int(d) for d in self.dimensions],
            [DOCUMENT_MODES[m] for m in self.documents],
            int(self.chunk_tokens),
            [RETRIEVAL_MODES[m] for m in self.modes],
            [PRECISION_CHOICES[p] for p in self.precisions],
        )


def plan_choices(dataset: LabelledSet, choices: GridChoices) -> GridPlan:
    """The plan of the chosen grid (see `plan_grid`), within one run's limits.

    Raises:
        GridError: an empty axis, more than MAX_CONFIGS configurations or MAX_INPUTS inputs, or
            inputs that cannot be prepared; the message says which.
    """
    configs = choices.configs()
    if not configs:
        raise GridError(N_("Choose at least one value on every axis (instruction, truncation, dimensions, documents, "
                           "mode, precision)."))
    if len(configs) > MAX_CONFIGS:
        raise GridError(N_("{n} configurations is too many for one run; choose at most {limit}."),
                        n=len(configs), limit=MAX_CONFIGS)
    try:
        plan = plan_grid(dataset, configs)
    except ValueError as exc:
        raise GridError(N_("Could not prepare the inputs: {error}"), error=message_of(exc)) from None
    if len(plan.texts) > MAX_INPUTS:
        raise GridError(N_("This grid needs {n} distinct inputs; at most {limit} per run."),
                        n=f"{len(plan.texts):,}", limit=f"{MAX_INPUTS:,}")
    return plan


@dataclass(frozen=True)
class RunInfo:
    """What one run of the page's grid did, for the lines above its results."""

    model: str
    texts: int  # distinct inputs of the plan
    new: int  # of those, embedded during the run (the rest came from the cache)
    seconds: float
    skipped: tuple[str, ...] = ()  # labels of configurations asking for more dimensions than the model gives
    served_model: str | None = None  # the model the server said answered

    @classmethod
    def of(cls, plan: GridPlan, full_dim: int, model: str, new: int, seconds: float,
           served_model: str | None = None) -> RunInfo:
        """The info of a run that embedded `plan` at `full_dim` dimensions."""
        return cls(model, len(plan.texts), new, seconds, tuple(c.label for c in oversized(plan.configs, full_dim)),
                   served_model)

    @property
    def inputs_line(self) -> Message:
        """How many inputs the run needed, how many were new, and its time."""
        return Message(N_("{texts} distinct inputs: {new} embedded now, {cached} from the cache · {seconds} s"),
                       {"texts": f"{self.texts:,}", "new": f"{self.new:,}", "cached": f"{self.texts - self.new:,}",
                        "seconds": f"{self.seconds:.1f}"})

    @property
    def skipped_line(self) -> Message | None:
        """The warning about skipped configurations; None when none was skipped."""
        if not self.skipped:
            return None
        return Message(N_("Skipped {n} configuration(s) asking for more dimensions than the model gives: {labels}"),
                       {"n": len(self.skipped), "labels": "; ".join(self.skipped)})


def set_title(dataset: LabelledSet, gettext: Callable[[str], str] = lambda s: s) -> str:
    """The set's name in the language of `gettext` (a bundled set's name is in the catalog; an
    upload's file name comes back unchanged), with its query limit."""
    if not dataset.limit:
        return gettext(dataset.name)
    return gettext(N_("{name} (first {n} queries)")).format(name=gettext(dataset.base), n=dataset.limit)


def describe_set(dataset: LabelledSet, model: str, gettext: Callable[[str], str] = lambda s: s) -> str:
    """One line naming the set, its size and the model."""
    return gettext(N_("Set: {name} · {documents} documents · {queries} queries · model {model}")).format(
        name=set_title(dataset, gettext), documents=len(dataset.documents), queries=len(dataset.queries), model=model)


def preview_rows(dataset: LabelledSet) -> list[dict[str, str]]:
    """One row per query: id, text and its judged documents as "id (grade)"."""
    return [{"id": q.id, "query": q.text, "relevant": ", ".join(f"{d} ({g})" for d, g in q.relevant.items())}
            for q in dataset.queries]


def query_choices(dataset: LabelledSet, width: int = 80) -> dict[str, str]:
    """Query id -> "id · first words" (one line, at most `width` characters of text), in query order."""
    return {q.id: f"{q.id} · {one_line(q.text, width)}" for q in dataset.queries}


def sweeps_dimensions(results: Sequence[ConfigResult]) -> bool:
    """True when some set-up (instruction, truncation, documents) was measured at two or more sizes."""
    sizes: dict[tuple, set[int]] = {}
    for res in results:
        cfg = res.config
        if not cfg.uses_vectors:
            continue
        key = (cfg.instruction_name, cfg.instruction, cfg.max_tokens, cfg.chunked and cfg.chunk_tokens,
               cfg.mode, cfg.precision, cfg.rescore)
        sizes.setdefault(key, set()).add(res.dimensions)
    return any(len(s) > 1 for s in sizes.values())
