"""Collection names and model names: which collection names the stores accept (and what to change
when one is refused), and the model part of an embedder's model id that the model guard compares."""

from __future__ import annotations

import re

from embedlab.messages import N_, Message
from embedlab.stores.errors import InvalidName

NAME_RULES = N_(
    "3 to 63 characters; letters, digits, '_', '-' or '.'; starting and ending with a letter or "
    "digit; no '..'; not an IP address"
)


def validate_name(name: str) -> str:
    """The stripped name if Chroma accepts it, else InvalidName saying what to change."""
    name = (name or "").strip()
    problems: list[Message] = []
    if not name:
        raise InvalidName(N_("Give the collection a name ({rules}), e.g. hr_policy_v1."), rules=Message(NAME_RULES))
    if len(name) < 3 or len(name) > 63:
        problems.append(Message(N_("it has {n} characters (3 to 63 allowed)"), {"n": len(name)}))
    bad = sorted({ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "_-."))})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:8])
        problems.append(Message(N_("it contains {shown} (only letters a-z, digits, '_', '-' and '.' are allowed)"),
                                {"shown": shown}))
    if not (name[0].isascii() and name[0].isalnum()) or not (name[-1].isascii() and name[-1].isalnum()):
        problems.append(Message(N_("it must start and end with a letter or digit")))
    if ".." in name:
        problems.append(Message(N_("it contains '..'")))
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        problems.append(Message(N_("it looks like an IP address")))
    if problems:
        suggestion = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[:63]
        params = {f"p{i}": p for i, p in enumerate(problems)}
        joined = "; ".join("{" + key + "}" for key in params)  # one problem after another, each translated
        reasons = Message(joined, params)
        if len(suggestion) >= 3 and suggestion != name:
            raise InvalidName(N_("Collection name {name} cannot be used: {reasons}. Try {suggestion}."),
                              name=repr(name), reasons=reasons, suggestion=repr(suggestion))
        raise InvalidName(N_("Collection name {name} cannot be used: {reasons}."), name=repr(name), reasons=reasons)
    return name


# An embedder's model id is "<model>@<server URL>" or "<model>@local"; model names may hold "@" too.
_MODEL_AT = re.compile(r"(.*?)@(?:local$|[A-Za-z][A-Za-z0-9+.-]*://)", re.DOTALL)


def model_name(model_id: str) -> str:
    """The model part of an embedder's model id ("Qwen/Qwen3-Embedding-0.6B@http://..." -> name);
    a bare name comes back as it is.

    The guard compares names, not servers: the same model behind another URL gives the same vectors.
    """
    found = _MODEL_AT.match(model_id)
    return found.group(1) if found else model_id
