import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from embedlab.instruction_sets import join_items, split_items
from embedlab.instructions import (
    DEFAULT_TASK,
    DEFAULT_TEMPLATE,
    PRESETS,
    Instruction,
    LibraryError,
    format_query,
    load_library,
    template_problems,
)
from tests.support import procs

ROOT = Path(__file__).resolve().parents[2]


def test_official_template():
    assert DEFAULT_TEMPLATE == "Instruct: {task}\nQuery:{query}"
    assert format_query(DEFAULT_TASK, "what is X") == f"Instruct: {DEFAULT_TASK}\nQuery:what is X"


def test_no_task_means_no_instruction():
    assert format_query("", "q") == "q" and format_query("   ", "q") == "q"


def test_braces_in_user_text_are_kept():
    assert format_query("find {json}", "a {query} b") == "Instruct: find {json}\nQuery:a {query} b"


# --- template validation -------------------------------------------------------------------


def test_default_template_is_valid():
    assert template_problems(DEFAULT_TEMPLATE) == []
    assert template_problems("{query}") == []
    assert template_problems("Task: {task} | Text: {query} | again {task}") == []


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("Instruct: {task}", "must contain {query}"),
        ("{query} and {query}", "exactly once, not 2 times"),
        ("{task} {query} {lang}", "Unknown placeholder(s) {lang}"),
        ("{} {query}", "Unknown placeholder(s) {}"),
        ("   ", "empty"),
    ],
)
def test_bad_templates_are_rejected_with_reason(template, fragment):
    problems = template_problems(template)
    assert any(fragment in str(p) for p in problems), problems


def test_task_containing_query_placeholder_is_not_expanded():
    assert format_query("say {query}", "x") == "Instruct: say {query}\nQuery:x"
    assert format_query("t", "q", "[{query}] <{task}>") == "[q] <t>"


# --- library -----------------------------------------------------------------------------------


def test_presets_have_the_contract_names():
    lib_names = {p.name for p in PRESETS}
    for name in ["Web search (Qwen default)", "HR policy", "Customer questions", "Code search",
                 "IT security policy", "Clustering"]:
        assert name in lib_names
    assert PRESETS[0].task == DEFAULT_TASK and all(p.preset for p in PRESETS)


def test_create_edit_duplicate_delete_persist(tmp_path):
    lib = load_library(tmp_path)
    lib.create("Legal", "Retrieve contract clauses", "for lawyers")
    lib.duplicate("HR policy")
    lib.update("Legal", "Legal v2", "Retrieve contract clauses that answer the question", "")
    fresh = load_library(tmp_path)  # a new object reads the file again, as after a restart
    assert [i.name for i in fresh.user()] == ["Legal v2", "HR policy (copy)"]
    assert fresh.get("legal V2") == Instruction("Legal v2", "Retrieve contract clauses that answer the question")
    assert fresh.get("HR policy (copy)").task == fresh.get("HR policy").task
    assert fresh.duplicate("HR policy").name == "HR policy (copy 2)"
    fresh.delete("Legal v2")
    assert load_library(tmp_path).get("Legal v2") is None
    assert fresh.all()[: len(PRESETS)] == list(PRESETS)


def test_chinese_names_and_tasks_round_trip(tmp_path):
    lib = load_library(tmp_path)
    lib.create("报销制度", "根据员工的问题检索报销制度条款")
    raw = (tmp_path / "instructions.json").read_text(encoding="utf-8")
    assert "报销制度" in raw  # stored readable, not as \\u escapes
    assert load_library(tmp_path).get("报销制度").task == "根据员工的问题检索报销制度条款"


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        (lambda lib: lib.create("HR Policy", "x"), "name of a preset"),
        (lambda lib: lib.create("Mine", "y"), "already exists"),
        (lambda lib: lib.create("  ", "y"), "name is empty"),
        (lambda lib: lib.create("New", "  "), "task description is empty"),
        (lambda lib: lib.create("x" * 81, "t"), "longer than 80"),
        (lambda lib: lib.update("HR policy", "HR policy", "t"), "cannot be changed"),
        (lambda lib: lib.update("Ghost", "Ghost", "t"), "no instruction named"),
        (lambda lib: lib.delete("Clustering"), "cannot be deleted"),
        (lambda lib: lib.delete("Ghost"), "no instruction named"),
    ],
)
def test_refused_changes_explain_and_change_nothing(tmp_path, action, fragment):
    lib = load_library(tmp_path)
    lib.create("Mine", "my task")
    before = (tmp_path / "instructions.json").read_bytes()
    with pytest.raises(LibraryError, match=re.escape(fragment)):
        action(lib)
    assert (tmp_path / "instructions.json").read_bytes() == before


def test_export_import_round_trip_merges(tmp_path):
    src = load_library(tmp_path / "a")
    src.create("One", "task one", "n1")
    src.create("Two", "task two")
    exported = src.export_json()
    assert [e["name"] for e in json.loads(exported)["instructions"]] == ["One", "Two"]
    dst = load_library(tmp_path / "b")
    dst.create("Two", "old task two")
    result = dst.import_json(exported.encode("utf-8"))
    assert (result.added, result.replaced) == (1, 1)
    assert [(i.name, i.task, i.note) for i in dst.user()] == [("Two", "task two", ""), ("One", "task one", "n1")]
    # A bare list is accepted too.
    dst.import_json('[{"name": "Three", "task": "t3"}]')
    assert dst.get("Three").task == "t3"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"items": []}', "no 'instructions' list"),
        (b'"just a string"', "Expected a list"),
        (b'[{"name": "A", "task": "t"}, 5]', "Entry 2"),
        (b'[{"name": "A"}]', "'task' must be a non-empty string"),
        (b'[{"name": "", "task": "t"}]', "'name' must be a non-empty string"),
        (b'[{"name": "A", "task": "t", "note": 3}]', "'note' must be a string"),
        (b'[{"name": "A", "task": "t"}, {"name": "a", "task": "u"}]', "more than once"),
        (b'[{"name": "Code search", "task": "t"}]', "name of a preset"),
        (b"[" + b'{"name": "A", "task": "t"},' * 40_000 + b"]", "larger than"),
        (b"[" * 100_000, "nests lists or objects too deeply"),
    ],
)
def test_malformed_import_is_rejected_and_library_unchanged(tmp_path, payload, fragment):
    lib = load_library(tmp_path)
    lib.create("Keep me", "kept task")
    before = (tmp_path / "instructions.json").read_bytes()
    with pytest.raises(LibraryError, match=re.escape(fragment)):
        lib.import_json(payload)
    assert (tmp_path / "instructions.json").read_bytes() == before
    assert [i.name for i in lib.user()] == ["Keep me"]


def test_broken_file_is_kept_aside_not_lost(tmp_path):
    (tmp_path / "instructions.json").write_text("{broken", encoding="utf-8")
    lib = load_library(tmp_path)
    assert lib.user() == []
    assert lib.warning and "could not be read" in str(lib.warning)
    kept = list(tmp_path.glob("instructions.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == "{broken"
    lib.create("After", "t")  # the library works again
    assert load_library(tmp_path).get("After") is not None


def test_a_deeply_nested_file_is_kept_aside_like_any_broken_one(tmp_path):
    (tmp_path / "instructions.json").write_text("[" * 100_000, encoding="utf-8")
    lib = load_library(tmp_path)
    assert lib.all() == list(PRESETS)
    assert lib.warning and "nests lists or objects too deeply" in str(lib.warning)
    [kept] = tmp_path.glob("instructions.json.broken-*")
    assert kept.read_text(encoding="utf-8") == "[" * 100_000
    lib.create("After", "t")
    assert [i.name for i in load_library(tmp_path).user()] == ["After"]


def test_two_processes_creating_at_once_keep_every_entry(tmp_path):
    watcher = load_library(tmp_path)  # this process's view, read (and remembered) before the others write
    watcher.create("Before", "Given a question, retrieve the answer")
    assert [i.name for i in watcher.user()] == ["Before"]
    start = tmp_path / "start"
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.library_worker", str(tmp_path), prefix, "40", str(start)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        for prefix in ("first", "second")
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == b"ready"
        start.touch()  # both begin their 40 changes together
        for worker in workers:
            assert worker.wait(timeout=120) == 0, worker.stdout.read().decode(errors="replace")
    finally:
        for worker in workers:
            procs.stop(worker)
            worker.stdout.close()
    expected = ["Before", *(f"{prefix}-{i}" for prefix in ("first", "second") for i in range(40))]
    assert sorted(i.name for i in watcher.user()) == sorted(expected)
    assert sorted(i.name for i in load_library(tmp_path).user()) == sorted(expected)


def test_a_change_at_the_same_size_and_time_is_seen(tmp_path):
    library = load_library(tmp_path)
    library.create("Alpha", "Given a question, retrieve the answer")
    path = tmp_path / "instructions.json"
    before = path.stat()
    assert library.get("Alpha") is not None  # remembered with the file's stamp
    load_library(tmp_path).update("Alpha", "Bravo", "Given a question, retrieve the answer")
    # Another process's write within one clock tick: same size, same modification time.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert library.get("Bravo") is not None and library.get("Alpha") is None


def test_writes_are_atomic_no_temp_files_left(tmp_path):
    lib = load_library(tmp_path)
    for i in range(5):
        lib.create(f"n{i}", "t")
    # The lock file stays (removing it while another process waits on it would split the lock).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instructions.json", "instructions.json.lock"]


CHANGES = [
    ("create", lambda lib: lib.create("New one", "new task")),
    ("update", lambda lib: lib.update("Keep me", "Keep me", "changed task")),
    ("duplicate", lambda lib: lib.duplicate("HR policy")),
    ("delete", lambda lib: lib.delete("Keep me")),
    ("import", lambda lib: lib.import_json('{"instructions": [{"name": "Imported", "task": "t"}]}')),
]


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[n for n, _ in CHANGES])
def test_a_full_disk_refuses_the_change_and_keeps_the_file(tmp_path, monkeypatch, change):
    from tests.support.diskfaults import full_disk_for_temp_files

    lib = load_library(tmp_path)
    lib.create("Keep me", "kept task")
    before = (tmp_path / "instructions.json").read_bytes()
    full_disk_for_temp_files(monkeypatch, tmp_path)
    with pytest.raises(LibraryError) as refused:  # was OSError: [Errno 28] No space left on device
        change(lib)
    assert str(refused.value) == (f"The instruction library could not be saved in {tmp_path}: the disk is full. "
                                  "Nothing was changed; the saved instructions are as they were.")
    assert (tmp_path / "instructions.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instructions.json", "instructions.json.lock"]  # none half-written
    assert [(i.name, i.task) for i in load_library(tmp_path).user()] == [("Keep me", "kept task")]


def test_a_read_only_directory_is_read_and_refuses_changes(tmp_path):
    from tests.support.diskfaults import read_only

    load_library(tmp_path).create("Keep me", "kept task")
    before = (tmp_path / "instructions.json").read_bytes()
    with read_only(tmp_path):
        lib = load_library(tmp_path)
        assert [i.name for i in lib.user()] == ["Keep me"] and lib.warning is None
        for _, change in CHANGES:
            with pytest.raises(LibraryError, match=r"could not be saved in .*: writing there is not permitted\. "
                                                   "Nothing was changed"):
                change(lib)
    assert (tmp_path / "instructions.json").read_bytes() == before


# --- the text-list format of the sample sets ------------------------------------------------


def test_split_items_lines_or_separated_blocks():
    assert split_items("a\n\n  b \n") == ["a", "b"]
    assert split_items("def f():\n    pass\n---\nsecond\n  ---  \n\n---\nthird") == [
        "def f():\n    pass", "second", "third"]
    assert join_items(["a", "b"]) == "a\nb"
    assert split_items(join_items(["x\ny", "z"])) == ["x\ny", "z"]


def test_library_file_is_read_again_only_when_it_changes(tmp_path, monkeypatch):
    import embedlab.instructions as instructions

    library = instructions.load_library(tmp_path)
    library.create("Mine", "Given a question, retrieve the answer")
    reads = []
    real = instructions.parse_entries
    monkeypatch.setattr(instructions, "parse_entries", lambda data: reads.append(1) or real(data))
    for _ in range(5):
        assert library.get("Mine") is not None and "Mine" in library.names()
    assert len(reads) == 0  # what it wrote itself is remembered
    other = instructions.load_library(tmp_path)  # another session's view of the same file
    other.create("Theirs", "Given a ticket, retrieve similar tickets")
    assert library.get("Theirs") is not None  # the change on disk is seen at once
    assert len(reads) == 2  # other's read before its write, then library's re-read
