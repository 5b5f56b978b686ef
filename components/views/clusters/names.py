"""Display names of the Clusters page's choices, translated where drawn."""


from __future__ import annotations

from collections.abc import Callable

from components.i18n import bound_gettext
from embedlab.messages import N_
from embedlab.projection.mapdata import (
    COLOUR_CLUSTER,
    COLOUR_LABEL,
    COLOUR_LANGUAGE,
    FIELD_PREFIX,
)

NO_LABEL = "(none)"  # the label pickers' "no label" option (a key, shown translated)
CLUSTER_NAME, NOISE = N_("cluster {n}"), N_("noise")
OTHER_GROUPS = N_("other ({n} groups)")
FIELD_NAME = N_("Field “{name}”")  # a colour choice: a column or metadata field, by its name
# Keys of the choice widgets -> their display names (translated where drawn).
CHOICES = {
    NO_LABEL: N_("(none)"), "2-D": N_("2-D"), "3-D": N_("3-D"),
    "best silhouette": N_("best silhouette"), "fixed": N_("fixed"),
    COLOUR_LABEL: N_("Label"), COLOUR_CLUSTER: N_("Found cluster"), COLOUR_LANGUAGE: N_("Language (detected)"),
}



def choice_names() -> Callable[[str], str]:
    """Format function of the choice widgets: an option key shown in the session's language (a
    field by its own name, "(none)" and the fixed choices translated)."""
    gettext = bound_gettext()

    def name(key: str) -> str:
        if key.startswith(FIELD_PREFIX):
            return gettext(FIELD_NAME).format(name=key.removeprefix(FIELD_PREFIX))
        return gettext(CHOICES[key]) if key in CHOICES else gettext(SOURCE_NAMES[key]) if key in SOURCE_NAMES else key

    return name


SOURCE_NAMES = {"Sample corpus": N_("Sample corpus"), "Upload CSV / JSONL": N_("Upload CSV / JSONL"),
                "Stored collection": N_("Stored collection")}
