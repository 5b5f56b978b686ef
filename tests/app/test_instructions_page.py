"""Instruction Lab with AppTest against the stand-in embedding server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from embedlab.instruction_sets import sample_sets
from tests.support.apptest import INSTRUCTIONS, ROOT, open_page
from tests.support.markdown import shown
from tests.support.untranslated import untranslated


def fresh() -> AppTest:
    at = open_page(INSTRUCTIONS, 120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", len(flat))).split(",")])
    return np.asarray(value)


def button(at: AppTest, label: str):
    [b] = [b for b in at.button if b.label == label]
    return b


@pytest.fixture
def at(app_env) -> AppTest:
    return fresh()


def test_sample_instruction_compare_shows_heatmaps_and_ranking(at):
    zh = next(s for s in sample_sets().values() if s.language == "zh" and not s.symmetric)
    at.selectbox(key="instr.w.sample").set_value(zh.name)
    at.button(key="instr.load_sample").click().run()
    assert at.text_area(key="instr.w.queries").value.splitlines() == list(zh.queries)
    at.selectbox(key="instr.w.pick").set_value("HR policy").run()
    at.button(key="instr.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    specs = charts(at)
    heatmaps = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 3 and len(specs) == 4  # plus the labelled-set comparison bars
    without, with_, diff = (array(h["data"][0]["z"]).astype(float) for h in heatmaps)
    assert without.shape == (len(zh.queries), len(zh.documents))
    np.testing.assert_allclose(diff, np.round(with_ - without, 4), atol=1e-9)  # exactly, as displayed
    assert not np.allclose(with_, without)  # the instruction changed something
    # One colour scale for the first two, a diverging one centred on 0 for the difference.
    assert (heatmaps[0]["data"][0]["zmin"], heatmaps[0]["data"][0]["zmax"]) == (
        heatmaps[1]["data"][0]["zmin"], heatmaps[1]["data"][0]["zmax"])
    d = heatmaps[2]["data"][0]
    assert d["zmid"] == 0 and d["zmin"] == -d["zmax"]
    # Hover carries the full texts; axis labels are unique and short.
    assert array(heatmaps[0]["data"][0]["customdata"])[0, 0, 0] == zh.queries[0]
    assert len(set(heatmaps[0]["data"][0]["x"])) == len(zh.documents)

    tables = {tuple(df.value.columns)[:3]: df.value for df in at.dataframe}
    ranking = next(v for k, v in tables.items() if k == ("Query #", "Query", "Rank with"))
    assert {"Rank change", "Rank without", "Relevant"} <= set(ranking.columns)
    assert (ranking["Rank change"] == ranking["Rank without"] - ranking["Rank with"]).all()
    summary = next(v for k, v in tables.items() if k == ("Query #", "Query", "Top-1 without"))
    assert len(summary) == len(zh.queries) and "Margin with" in summary.columns
    metrics = next(v for k, v in tables.items() if k[0] == "Instruction")
    # The loaded set brought its alternatives along; the picked instruction comes first.
    assert list(metrics["Instruction"]) == list(dict.fromkeys(["No instruction", "HR policy", *zh.alternatives]))
    assert [m.label for m in at.metric][:2] == ["Queries whose top-1 changed", "Mean top-1 margin"]
    # The sidebar's cache line is redrawn after embedding, not left at its start-of-run value.
    [stats] = [c.value for c in at.sidebar.caption if c.value.startswith("Embedding cache:")]
    assert not stats.startswith("Embedding cache: 0 vectors")


def test_the_opening_set_shows_its_instructions_apart(at):
    first = next(iter(sample_sets().values()))
    assert at.selectbox(key="instr.w.sample").value == first.name  # the page opens on the first set
    assert at.selectbox(key="instr.w.pick").value == first.instruction
    assert at.multiselect(key="instr.w.compare").value == list(first.alternatives)
    at.button(key="instr.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = next(d.value for d in at.dataframe if tuple(d.value.columns)[0] == "Instruction")
    assert list(metrics["Instruction"]) == ["No instruction", first.instruction, *first.alternatives]
    assert (metrics["MRR"] < 1).all()  # no configuration at the ceiling
    assert metrics["MRR"].iloc[1:].max() - metrics["MRR"].iloc[1:].min() >= 0.05
    changed = at.metric[0]
    assert changed.label == "Queries whose top-1 changed" and not changed.value.startswith("0 /")


def test_up_to_three_instructions_compared_on_labels(at):
    at.multiselect(key="instr.w.compare").set_value(["Code search", "HR policy (Chinese wording)"])
    at.button(key="instr.run").click().run()
    assert not at.exception
    bars = charts(at)[-1]
    assert [t["type"] for t in bars["data"]] == ["bar", "bar"]
    first = next(iter(sample_sets().values()))
    assert bars["data"][0]["x"] == ["No instruction", first.instruction, "Code search", "HR policy (Chinese wording)"]


def test_saved_instruction_survives_a_fresh_run(at):
    at.text_input(key="instr.w.edit_name").input("Payroll <b>Q&A</b>")
    at.text_area(key="instr.w.edit_task").input("Given a payroll question, retrieve the rule that answers it")
    at.text_input(key="instr.w.edit_note").input("mine")
    button(at, "Save instruction").click().run()
    assert not at.exception
    assert any("Saved instruction" in s.value for s in at.success)
    assert at.selectbox(key="instr.w.pick").value == "Payroll <b>Q&A</b>"  # selected after saving

    again = fresh()  # a new session reads the library from PLAYGROUND_DATA_DIR
    picker = again.selectbox(key="instr.w.pick")
    assert "Payroll <b>Q&A</b>" in picker.options
    picker.set_value("Payroll <b>Q&A</b>").run()
    assert "Instruct: Given a payroll question" in again.code[0].value

    # Editing it keeps one entry; a clash with a preset is refused and loses nothing.
    again.selectbox(key="instr.w.edit_target").set_value("Payroll <b>Q&A</b>").run()
    assert again.text_area(key="instr.w.edit_task").value.startswith("Given a payroll question")
    again.text_input(key="instr.w.edit_name").input("HR policy")
    button(again, "Save instruction").click().run()
    assert any("name of a preset" in e.value for e in again.error)
    assert again.text_input(key="instr.w.edit_name").value == "HR policy"  # typed text kept
    assert fresh().selectbox(key="instr.w.pick").options.count("Payroll <b>Q&A</b>") == 1


def test_template_validation_and_symmetric_preview(at):
    at.text_area(key="instr.w.template").input("{task} :: {query} {lang}")
    button(at, "Apply template").click().run()
    assert any("Unknown placeholder(s) {lang}" in shown(e.value) for e in at.error)
    assert at.code[0].value.startswith("Instruct: ")  # still the official template
    at.text_area(key="instr.w.template").input("Task: {task} | {query}")
    button(at, "Apply template").click().run()
    assert not at.error
    first_query = next(iter(sample_sets().values())).queries[0]
    assert at.code[0].value.startswith("Task: Given an employee") and f" | {first_query}" in at.code[0].value
    assert not at.code[1].value.startswith("Task:")  # documents plain in asymmetric mode
    at.radio(key="instr.w.mode").set_value(True).run()
    assert at.code[1].value.startswith("Task: Given an employee")
    assert any("tokens" in c.value for c in at.caption)


def test_empty_texts_are_refused_and_previous_texts_kept(at):
    before = at.code[0].value
    at.text_area(key="instr.w.queries").input("   \n  ")
    button(at, "Apply texts").click().run()
    assert any("at least one query" in e.value for e in at.error)
    assert at.code[0].value == before


def test_import_rejects_malformed_file_and_accepts_a_good_one(at, app_env):
    library_file = Path(app_env["PLAYGROUND_DATA_DIR"]) / "instructions.json"
    at.text_input(key="instr.w.edit_name").input("Kept")
    at.text_area(key="instr.w.edit_task").input("kept task")
    button(at, "Save instruction").click().run()
    before = library_file.read_bytes()

    at.file_uploader(key="instr.w.import_file").upload("bad.json", b'[{"name": "X"}]', "application/json")
    at.button(key="instr.import").click().run()
    assert any("Import rejected, the library is unchanged" in shown(e.value) and "'task'" in shown(e.value)
               for e in at.error)
    assert library_file.read_bytes() == before

    good = b'{"instructions": [{"name": "Imported", "task": "an imported task", "note": ""}]}'
    at.file_uploader(key="instr.w.import_file").set_value(("good.json", good, "application/json"))
    at.button(key="instr.import").click().run()
    assert any("Imported 1 new" in s.value for s in at.success)
    assert {"Kept", "Imported"} <= set(at.selectbox(key="instr.w.pick").options)

    # Delete it again (a user entry; presets cannot be deleted).
    at.selectbox(key="instr.w.edit_target").set_value("Imported").run()
    at.button(key="instr.delete").click().run()
    assert any("Deleted “Imported”" in s.value for s in at.success)
    assert "Imported" not in fresh().selectbox(key="instr.w.pick").options


def test_local_model_offline_says_what_to_do_in_plain_view(app_env, monkeypatch):
    monkeypatch.delenv("EMBEDDING_BASE_URL")
    for key in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")  # .invalid never resolves
    at = fresh()
    at.button(key="instr.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # The error is a box of its own, not hidden inside the folded loading status.
    [status] = [c for c in at.main.children.values() if c.type == "status"]
    assert status.label == "The local model could not be loaded"
    [error] = [c for c in at.main.children.values() if c.type == "error"]
    assert "cannot be resolved" in shown(error.value) and "EMBEDDING_BASE_URL" in shown(error.value)
    assert "sglang serve" in shown(error.value)
    assert not at.get("plotly_chart")


def test_moving_k_reuses_the_kept_comparison_and_embeds_nothing(at, monkeypatch):
    from embedlab.cache import CachedEmbedder

    at.button(key="instr.run").click().run()
    kept = at.session_state["instr.result"][1]
    calls = []
    embed = CachedEmbedder.embed
    monkeypatch.setattr(CachedEmbedder, "embed", lambda self, *a, **kw: calls.append(a) or embed(self, *a, **kw))

    def ranking():
        return next(d.value for d in at.dataframe if tuple(d.value.columns)[:3] == ("Query #", "Query", "Rank with"))

    assert at.slider(key="instr.w.top_k").value == 3
    rows = len(ranking())
    at.slider(key="instr.w.top_k").set_value(1).run()
    assert not at.exception
    assert calls == [] and at.session_state["instr.result"][1] is kept  # no embedding, no recomputation
    assert len(ranking()) < rows and (ranking()["Rank with"].groupby(ranking()["Query #"]).min() == 1).all()
    # A change the results depend on computes them again.
    at.radio(key="instr.w.mode").set_value(True).run()
    assert len(calls) == 1 and at.session_state["instr.result"][1] is not kept


def test_k_and_compared_instructions_follow_what_still_exists(at):
    at.button(key="instr.run").click().run()
    at.slider(key="instr.w.top_k").set_value(8).run()
    at.text_area(key="instr.w.queries").input("leave?")
    at.text_area(key="instr.w.documents").input("Leave is 25 days.\nTravel needs approval.")
    button(at, "Apply texts").click().run()
    assert not at.exception
    slider = at.slider(key="instr.w.top_k")
    assert (slider.value, slider.max) == (2, 2)  # k kept within the documents there are

    at.text_input(key="instr.w.edit_name").input("Mine")
    at.text_area(key="instr.w.edit_task").input("my task")
    button(at, "Save instruction").click().run()
    at.multiselect(key="instr.w.compare").set_value(["Mine"]).run()
    at.selectbox(key="instr.w.edit_target").set_value("Mine").run()
    at.button(key="instr.delete").click().run()
    assert not at.exception
    assert "Mine" not in at.multiselect(key="instr.w.compare").options
    assert at.multiselect(key="instr.w.compare").value == []
    assert at.selectbox(key="instr.w.pick").value == "Web search (Qwen default)"


def test_the_page_in_chinese_shows_no_untranslated_text_before_and_after_compare(app_env):
    at = AppTest.from_file(str(ROOT / INSTRUCTIONS), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at) == {}
    assert at.title[0].value == "指令实验室"
    assert at.radio(key="instr.w.mode").options == ["非对称：仅查询加指令（检索）", "对称：查询和文档都加指令"]
    at.button(key="instr.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert untranslated(at) == {}
    [verdict] = [i.value for i in at.info if "MRR" in i.value]
    result = at.session_state["instr.result"][1]
    test = result.mrr_test
    assert f"{test.ci_low:+.4f} 至 {test.ci_high:+.4f}" in verdict and "置信区间" in verdict and "配对置换检验" in verdict
    assert ("显著更高" in verdict) == test.significant and ("没有显著差异" in verdict) == (not test.significant)
    assert [m.label for m in at.metric][:2] == ["第一名发生变化的查询", "第一名平均领先幅度"]
    # Streamlit draws a change's arrow from its leading sign: the Chinese text must keep it first.
    assert all(m.delta[0] in "+-" for m in at.metric[1:4]), [m.delta for m in at.metric]
    # Column headers, figure titles and hover words in Chinese; the exported data keeps English.
    assert any(tuple(df.value.columns)[:3] == ("查询编号", "查询", "加指令名次") for df in at.dataframe)
    specs = charts(at)
    assert specs[0]["layout"]["title"]["text"] == "不加指令" and "<b>查询</b>" in specs[0]["data"][0]["hovertemplate"]
    assert specs[-1]["data"][0]["x"][0] == "无指令"
