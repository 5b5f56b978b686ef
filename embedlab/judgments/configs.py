"""The retrieval configurations an experiment compares (query instruction, document input length,
Matryoshka dimensions, dense / BM25 / hybrid, rerank), their labels and checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from embedlab.judgments.base import JudgeError
from embedlab.messages import N_
from embedlab.stores.base import CollectionSpec

MIN_CONFIGS, MAX_CONFIGS = 2, 4
CONFIG_NAMES = "ABCD"
MODES = ("dense", "bm25", "hybrid-rrf", "hybrid-weighted")
MODE_LABELS = {"dense": N_("dense"), "bm25": "BM25", "hybrid-rrf": N_("hybrid RRF"),
               "hybrid-weighted": N_("hybrid weighted")}  # translated where shown
LENGTH_CHOICES: tuple[int | None, ...] = (None, 8192, 2048, 512)  # document input length; None = full
DIMENSION_CHOICES: tuple[int | None, ...] = (None, 512, 256, 128, 64, 32)  # Matryoshka sizes; None = full
COLLECTION_INSTRUCTION = "(the collection's instruction)"  # resolved when the pools are built


@dataclass(frozen=True)
class JudgeConfig:
    """One retrieval set-up of an experiment.

    instruction_name / instruction: the query instruction ("" = none); COLLECTION_INSTRUCTION as
        the name means the collection's own, filled in by `resolved`.
    max_tokens: each chunk is embedded from its first `max_tokens` tokens; None = its whole text.
    dimensions: Matryoshka size (query and chunk vectors cut and re-normalised); None = full.
    mode: "dense", "bm25" (keywords over the same chunk inputs, bare query) or "hybrid-rrf" /
        "hybrid-weighted" (both fused, see embedlab.fusion).
    rerank: the top RERANK_FETCH go to the reranker, which picks the top k.
    """

    instruction_name: str = ""
    instruction: str = ""
    max_tokens: int | None = None
    dimensions: int | None = None
    mode: str = "dense"
    rerank: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise JudgeError(N_("Unknown retrieval mode {mode}; choose from {modes}."),
                             mode=repr(self.mode), modes=", ".join(MODES))
        for name in ("max_tokens", "dimensions"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise JudgeError(N_("{name} must be a positive whole number or None, got {value}."),
                                 name=name, value=repr(value))

    @property
    def uses_vectors(self) -> bool:
        return self.mode != "bm25"

    def canonical(self) -> JudgeConfig:
        """BM25 reads the bare query and no vectors: its instruction and dimensions are dropped."""
        if self.uses_vectors:
            return self
        return replace(self, instruction_name="", instruction="", dimensions=None)

    def resolved(self, spec: CollectionSpec) -> JudgeConfig:
        """The collection's own instruction filled in (name and task at the collection's creation)."""
        if self.instruction_name != COLLECTION_INSTRUCTION:
            return self.canonical()
        return replace(self, instruction_name=spec.instruction_name, instruction=spec.instruction).canonical()

    @property
    def instruction_label(self) -> str:
        if not self.uses_vectors:
            return "none (BM25)"
        if self.instruction_name == COLLECTION_INSTRUCTION:
            return "the collection's"
        if not self.instruction.strip():
            return "none"
        return self.instruction_name or "custom"

    @property
    def length_label(self) -> str:
        return f"≤{self.max_tokens:,} tokens" if self.max_tokens else "full length"

    @property
    def dimensions_label(self) -> str:
        if not self.uses_vectors:
            return "n/a"
        return f"{self.dimensions} d" if self.dimensions else "full"

    @property
    def label(self) -> str:
        """"instruction: … · input length · dimensions · mode[ · rerank]" ("BM25 · input length" for BM25)."""
        if not self.uses_vectors:
            parts = [MODE_LABELS[self.mode], self.length_label]
        else:
            parts = [f"instruction: {self.instruction_label}", self.length_label,
                     f"{self.dimensions} d" if self.dimensions else "full dim", MODE_LABELS[self.mode]]
        if self.rerank:
            parts.append("rerank")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JudgeConfig:
        known = {f: raw[f] for f in cls.__dataclass_fields__ if f in raw}
        return cls(**known)


def guide_configs() -> list[JudgeConfig]:
    """The tuning guide's experiment: no instruction and whole inputs, against the collection's
    instruction and inputs of at most 2,048 tokens."""
    return [JudgeConfig(), JudgeConfig(COLLECTION_INSTRUCTION, "", 2048)]


def config_name(index: int) -> str:
    """"A", "B", "C", "D"."""
    return CONFIG_NAMES[index]


def check_configs(configs: Sequence[JudgeConfig]) -> None:
    """JudgeError unless there are 2 to 4 configurations, all different."""
    if not MIN_CONFIGS <= len(configs) <= MAX_CONFIGS:
        raise JudgeError(N_("Compare {low} to {high} configurations ({n} chosen)."),
                         low=MIN_CONFIGS, high=MAX_CONFIGS, n=len(configs))
    seen: dict[JudgeConfig, int] = {}
    for i, cfg in enumerate(configs):
        key = cfg.canonical()
        if key in seen:
            raise JudgeError(N_("Configurations {first} and {second} are the same set-up; change or remove one."),
                             first=config_name(seen[key]), second=config_name(i))
        seen[key] = i
