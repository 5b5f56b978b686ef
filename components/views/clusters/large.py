"""The Clusters page's map of a stored collection too large to embed again (more than
mapdata.MAX_TEXTS chunks): one map of its stored vectors, computed on samples where the page says
so (embedlab.projection.large), kept per process and collection content version."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import streamlit as st

from components import resources, state
from components.i18n import _, label_func, tr
from components.page import PageContext
from components.views.clusters import explore
from components.views.clusters import overlay as query_overlay
from components.views.clusters.names import CLUSTER_NAME, NOISE, OTHER_GROUPS
from components.widgets import error_text, literal, show_error
from embedlab import figures
from embedlab.messages import N_
from embedlab.projection.clustering import MEASURES
from embedlab.projection.large import MEASURE_SAMPLE, StoredMap, stored_map
from embedlab.projection.mapdata import MAX_TEXTS, cluster_names, top_groups
from embedlab.projection.umap import FIT_SAMPLE
from embedlab.stores.base import StoreError

ss = st.session_state
LARGE_COLLECTION = MAX_TEXTS  # above this many chunks a collection gets this map instead of the two


LARGE_COLOURS = {"label": N_("source document"), "found cluster": N_("found cluster")}  # colour choices
KEEP = 2  # maps kept per process (each holds its collection's vectors)


@st.cache_resource(show_spinner=False)
def _kept() -> tuple[threading.Lock, OrderedDict]:
    # Kept as a resource, not data: a map holds its collection's vectors (400 MB at 100,000 x 1,024),
    # which cache_data would copy on every rerun; and it is made outside any cached function, which
    # must not draw the progress bar.
    return threading.Lock(), OrderedDict()


def _stored_map(ctx: PageContext, name: str, bar) -> StoredMap:
    """The map of `name`, kept per process under the collection's content version (a write gives a
    new version, hence a new map); made with a progress `bar` when it is not kept."""
    key = (resources.store_location(ctx.settings), name, ctx.store.content_version(name))
    lock, maps = _kept()
    with lock:
        if key in maps:
            maps.move_to_end(key)
            return maps[key]
    made = stored_map(ctx.store, name, progress=lambda message, share: bar.progress(share, text=tr(message)))
    with lock:
        maps[key] = made
        while len(maps) > KEEP:
            maps.popitem(last=False)
    return made


def render(ctx: PageContext, name: str, count: int) -> None:
    """The map of the stored collection `name` (`count` chunks), built on request."""
    st.info(_("{name} holds {n} chunks, more than the {max} texts the two maps embed. Its stored vectors "
              "(the documents as ingested, without an instruction) are mapped instead, read from the store "
              "rather than embedded again: the map is fitted on a sample of {sample} chunks and the others "
              "are placed on it with UMAP's transform; clusters are found on the same sample and every chunk "
              "joins the nearest one; the kNN label agreement is measured on {measured} chunks.").format(
        name=literal(name), n=f"{count:,}", max=f"{MAX_TEXTS:,}", sample=f"{FIT_SAMPLE:,}",
        measured=f"{MEASURE_SAMPLE:,}"), icon=":material/scatter_plot:")
    if st.button(_("Map the stored vectors"), type="primary", key="umap.large_build"):
        ss[state.UMAP_LARGE] = name
    if ss[state.UMAP_LARGE] != name:
        return
    bar = st.progress(0.0, text=_("Reading the stored vectors"))
    try:
        result = _stored_map(ctx, name, bar)
    except StoreError as exc:
        show_error(exc, _("The chunks of {name} cannot be read").format(name=name))
        return
    except ValueError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    finally:
        bar.empty()
    _show(ctx, result)


@st.fragment
def _show(ctx: PageContext, result: StoredMap) -> None:
    """The map with its colour choice (a fragment: a colour change redraws only this), a question and
    what it retrieves, and the measures."""
    seconds = result.seconds
    st.caption(_("{n} chunks · read in {read:.1f} s · map {map:.1f} s · clusters {clusters:.1f} s · "
                 "measures {measures:.1f} s").format(n=f"{len(result.ids):,}", **seconds))
    by = st.radio(_("Colour by"), ["label", "found cluster"], horizontal=True, key=state.UMAP_LARGE_COLOUR_BY,
                  persist_state="session", format_func=label_func(LARGE_COLOURS))
    clusters = cluster_names(result.clustering.labels, _(CLUSTER_NAME), _(NOISE))
    if by == "label":
        groups = top_groups(list(result.labels), order=list(dict.fromkeys(result.labels)), other=_(OTHER_GROUPS))
        details = [_("found cluster: {name}").format(name=c) for c in clusters]
    else:
        ids = sorted(set(result.clustering.labels.tolist()), key=lambda c: (c < 0, c))
        order = cluster_names(np.asarray(ids), _(CLUSTER_NAME), _(NOISE))
        groups = top_groups(clusters, order=order, other=_(OTHER_GROUPS))
        details = [_("source: {name}").format(name=label) for label in result.labels]
    colours = figures.group_colours(groups.order, noise=_(NOISE), other=groups.other)
    retrieved = query_overlay.ask_for_stored(ctx, result)
    fig = figures.umap_map(result.projection.coords, list(result.texts), groups.of_text,
                           _("Stored vectors of {name}").format(name=result.name), colours, details=details)
    neighbours = explore.large_pick(result)
    explore.draw_large(fig, result, neighbours)
    if retrieved is not None:
        query_overlay.draw(fig, retrieved, 0, result.projection.coords,
                           webgl=len(result.ids) > figures.SVG_POINT_LIMIT)
    st.plotly_chart(fig, key="umap.large_map", on_select=explore.on_large_select("umap.large_map", len(result.texts)),
                    selection_mode=("points", "box", "lasso"))
    if retrieved is not None:
        query_overlay.show(retrieved, [_("Stored vectors of {name}").format(name=result.name)])
    sep = result.separation
    st.dataframe(pd.DataFrame({
        _("measure"): [_(MEASURES[m]) for m in MEASURES],
        _("value"): [getattr(sep, m) for m in MEASURES],
    }), hide_index=True, key="umap.large_measures",
        column_config={_("value"): st.column_config.NumberColumn(format="%.3f")})
    explore.show_large_neighbours(result, neighbours)
