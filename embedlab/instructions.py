"""Instruction templates and the persisted instruction library.

Qwen3-Embedding expects queries as `Instruct: {task}\\nQuery:{query}` (no space after
"Query:"); documents are embedded as they are for retrieval. Symmetric tasks (STS, clustering)
instruct both sides.

The library is the built-in presets plus the user's own entries, which are stored as JSON
(`instructions.json` under the data directory), written atomically, and changed only under a
file lock (`instructions.json.lock`) that every app process on the data directory shares.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from embedlab.diskerrors import write_failure
from embedlab.messages import N_, LocalizedError, Message, message_of

DEFAULT_TEMPLATE = "Instruct: {task}\nQuery:{query}"
DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"

LIBRARY_FILE = "instructions.json"
FORMAT_VERSION = 1
MAX_NAME_CHARS = 80
MAX_TASK_CHARS = 2000
MAX_NOTE_CHARS = 2000
MAX_IMPORT_BYTES = 1_000_000
MAX_TEMPLATE_CHARS = 2000
ALLOWED_PLACEHOLDERS = ("task", "query")
LOCK_TIMEOUT_S = 10.0  # a change waits this long for another process's change to finish


def format_query(task: str, query: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The exact string sent to the model for `query` under instruction `task`.

    An empty or blank task means "no instruction": the query is returned unchanged.
    """
    if not task or not task.strip():
        return query
    # str.replace, not str.format: user text may contain braces. {task} first, so a task that
    # contains the text "{query}" is not expanded again.
    head, sep, tail = template.partition("{query}")
    return head.replace("{task}", task.strip()) + (query if sep else "") + tail.replace("{task}", task.strip())


# --- Template validation ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")
_PLACEHOLDERS_SHOWN = {"task": "{task}", "query": "{query}"}  # the template's placeholders, named in messages


def template_problems(template: str) -> list[Message]:
    """Every reason `template` cannot be used (empty list = valid), to translate where shown.

    Rules: `{query}` exactly once; the only placeholders are `{task}` and `{query}`.
    """
    problems: list[Message] = []
    if not template.strip():
        return [Message(N_("The template is empty."))]
    if len(template) > MAX_TEMPLATE_CHARS:
        problems.append(Message(N_("The template is longer than {limit} characters."), {"limit": MAX_TEMPLATE_CHARS}))
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({n for n in names if n not in ALLOWED_PLACEHOLDERS})
    if unknown:
        shown = ", ".join("{" + n + "}" for n in unknown)
        problems.append(Message(N_("Unknown placeholder(s) {shown}: only {task} and {query} are allowed."),
                                {"shown": shown, **_PLACEHOLDERS_SHOWN}))
    count = names.count("query")
    if count == 0:
        problems.append(Message(N_("The template must contain {query} (where the text goes)."), _PLACEHOLDERS_SHOWN))
    elif count > 1:
        problems.append(Message(N_("The template must contain {query} exactly once, not {count} times."),
                                {"count": count, **_PLACEHOLDERS_SHOWN}))
    return problems


# --- Instruction library ----------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """A named task description; `preset` entries ship with the app and are read-only."""

    name: str
    task: str
    note: str = ""
    preset: bool = False


PRESETS: tuple[Instruction, ...] = (
    Instruction(
        N_("Web search (Qwen default)"),
        DEFAULT_TASK,
        "Qwen's default for retrieval. Queries only; documents stay as they are.",
        True,
    ),
    Instruction(
        N_("HR policy"),
        "Given an employee's question about workplace rules, retrieve the HR policy passages that answer it",
        "Policy Q&A over an employee handbook: leave, expenses, working hours, benefits.",
        True,
    ),
    Instruction(
        N_("HR policy (Chinese wording)"),
        "根据员工关于公司规章制度的提问，检索能够回答该问题的人事制度条款",
        "The HR instruction written in Chinese, to compare with the English one (English usually works better).",
        True,
    ),
    Instruction(
        N_("Customer questions"),
        "Retrieve customer questions that ask for the same thing as the given customer question",
        "Customer-service matching: find earlier questions with the same intent. Works well in symmetric mode.",
        True,
    ),
    Instruction(
        N_("Code search"),
        "Given a description of what a program should do, retrieve code snippets that implement it",
        "Natural language to code. Documents are code snippets.",
        True,
    ),
    Instruction(
        N_("IT security policy"),
        "Given a question about an information security procedure, retrieve the IT security policy sections that govern it",
        "Security policy retrieval: approvals, access rules, incident handling.",
        True,
    ),
    Instruction(
        N_("IT helpdesk"),
        "Given an employee's question to the company IT service desk, retrieve the help-desk article that resolves it",
        "Service-desk articles: passwords, sign-in, access requests, company devices.",
        True,
    ),
    Instruction(
        N_("Product support"),
        "Given a question from the owner of a consumer device, retrieve the section of its product manual that answers it",
        "Product manuals for devices people own: set-up, reset, updates, warranty.",
        True,
    ),
    Instruction(
        N_("Online shop"),
        "Given a shopper's question about an order, retrieve the answer from the online shop's help centre",
        "E-commerce help centre: orders, delivery, returns, refunds, payment at checkout.",
        True,
    ),
    Instruction(
        N_("Card banking"),
        "Given a bank customer's question about their payment card, retrieve the bank's answer",
        "A bank's card service: limits, activation, loss, instalments, disputed charges.",
        True,
    ),
    Instruction(
        N_("Semantic similarity"),
        "Retrieve sentences that have the same meaning as the given sentence",
        "Symmetric (STS-style): instruct both sides.",
        True,
    ),
    Instruction(
        N_("Clustering"),
        "Identify the main topic of the given text",
        "Symmetric: use on both sides when grouping texts by topic.",
        True,
    ),
    Instruction(
        N_("Classification"),
        "Classify the given text by the kind of request it makes",
        "Symmetric: use on both sides for intent or category classification.",
        True,
    ),
)


class LibraryError(LocalizedError, ValueError):
    """A library operation or import was refused; the message is written for users."""


@dataclass(frozen=True)
class ImportResult:
    added: int
    replaced: int


def _clean_entry(raw: object, where: Message) -> Instruction:
    """Validate one user entry (a dict) into an Instruction; LibraryError names `where`."""
    if not isinstance(raw, dict):
        raise LibraryError(N_("{where}: expected an object with 'name' and 'task', got {kind}."),
                           where=where, kind=type(raw).__name__)
    name, task, note = raw.get("name"), raw.get("task"), raw.get("note", "")
    if not isinstance(name, str) or not name.strip():
        raise LibraryError(N_("{where}: 'name' must be a non-empty string."), where=where)
    if not isinstance(task, str) or not task.strip():
        raise LibraryError(N_("{where} ({name}): 'task' must be a non-empty string."),
                           where=where, name=repr(name.strip()))
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise LibraryError(N_("{where} ({name}): 'note' must be a string."), where=where, name=repr(name.strip()))
    return _checked(Instruction(name.strip(), task.strip(), note.strip()), where)


def _checked(instr: Instruction, where: Message | None = None) -> Instruction:
    where = where or Message(N_("Instruction"))
    name = repr(instr.name)
    if not instr.name:
        raise LibraryError(N_("{where}: the name is empty."), where=where)
    if len(instr.name) > MAX_NAME_CHARS:
        raise LibraryError(N_("{where}: the name is longer than {limit} characters."), where=where, limit=MAX_NAME_CHARS)
    if not instr.task:
        raise LibraryError(N_("{where} ({name}): the task description is empty."), where=where, name=name)
    if len(instr.task) > MAX_TASK_CHARS:
        raise LibraryError(N_("{where} ({name}): the task is longer than {limit} characters."),
                           where=where, name=name, limit=MAX_TASK_CHARS)
    if len(instr.note) > MAX_NOTE_CHARS:
        raise LibraryError(N_("{where} ({name}): the note is longer than {limit} characters."),
                           where=where, name=name, limit=MAX_NOTE_CHARS)
    return instr


def _key(name: str) -> str:
    return name.strip().casefold()


_PRESET_KEYS = {_key(p.name): p for p in PRESETS}
# One lock per file path for the threads of this process (several browser sessions of one server);
# the file lock (InstructionLibrary._exclusive) keeps other processes out. Re-entrant: a read
# that finds a broken file takes the exclusive lock to move it aside.
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path.resolve()), threading.RLock())


def parse_entries(data: bytes | str) -> list[Instruction]:
    """User entries from library JSON (`{"instructions": [...]}` or a bare list).

    Raises LibraryError for anything malformed: not JSON, wrong shape, missing or empty fields,
    duplicate names or preset names.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_IMPORT_BYTES:
            raise LibraryError(N_("The file is larger than {limit} kB; not an instruction library."),
                               limit=MAX_IMPORT_BYTES // 1000)
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LibraryError(N_("The file is not UTF-8 text, so it is not an instruction library.")) from None
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise LibraryError(N_("The file is not valid JSON (line {line}, column {column}: {detail})."),
                           line=exc.lineno, column=exc.colno, detail=exc.msg) from None
    except RecursionError:
        raise LibraryError(
            N_("The file nests lists or objects too deeply to read; it is not an instruction library.")) from None
    if isinstance(doc, dict):
        if "instructions" not in doc:
            raise LibraryError(N_("The JSON has no 'instructions' list."))
        doc = doc["instructions"]
    if not isinstance(doc, list):
        raise LibraryError(N_("Expected a list of instructions."))
    entries: list[Instruction] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc, start=1):
        instr = _clean_entry(raw, Message(N_("Entry {i}"), {"i": i}))
        if _key(instr.name) in _PRESET_KEYS:
            raise LibraryError(N_("Entry {i}: {name} is the name of a preset; rename it."), i=i, name=repr(instr.name))
        if _key(instr.name) in seen:
            raise LibraryError(N_("Entry {i}: the name {name} appears more than once."), i=i, name=repr(instr.name))
        seen.add(_key(instr.name))
        entries.append(instr)
    return entries


def dump_entries(entries: list[Instruction]) -> str:
    """Library JSON for user entries (the on-disk and export format)."""
    items = [{k: v for k, v in asdict(e).items() if k != "preset"} for e in entries]
    return json.dumps({"version": FORMAT_VERSION, "instructions": items}, ensure_ascii=False, indent=2) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unsaved(path: Path, exc: OSError) -> LibraryError:
    return LibraryError(N_("The instruction library could not be saved in {folder}: {reason}. "
                           "Nothing was changed; the saved instructions are as they were."),
                        folder=str(path.parent), reason=write_failure(exc))


class InstructionLibrary:
    """Presets plus the user's entries stored in the JSON file at `path`.

    Every change takes the library's file lock, reads the file, applies the change and writes it
    back atomically, so sessions and app processes sharing one file never lose each other's edits.
    Reading takes no lock (a reader sees the old or the new file, never half of one).

    Attributes:
        warning: set when the file on disk was unreadable; it was moved aside (not deleted)
            and the library started empty. None otherwise.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warning: Message | None = None  # why the saved library was not read (translated where shown)
        self._lock = _lock_for(self.path)
        self._file_lock: FileLock | None = None  # made on the first change (pages mostly only read)
        # The entries as last read, with the file's identity then: a page asks for the library many
        # times per run, and the file is read again only when it has changed. Each write replaces the
        # file by a new one (a new inode), so a change by another process within one timestamp tick,
        # at the same size, is still seen.
        self._seen: tuple[tuple[int, int, int, int], list[Instruction]] | None = None

    # Locking ------------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold this process's lock and the cross-process file lock for a read-modify-write.

        Raises:
            LibraryError: another process holds the lock past LOCK_TIMEOUT_S, or the lock file
                cannot be created (the data directory is not writable).
        """
        with self._lock:
            if self._file_lock is None:
                self._file_lock = FileLock(self.path.with_name(f"{self.path.name}.lock"), timeout=LOCK_TIMEOUT_S)
            try:
                self._file_lock.acquire()
            except Timeout:
                raise LibraryError(
                    N_("Another app process has been changing the instruction library for over {seconds} s; "
                       "nothing was changed. Try again in a moment."), seconds=f"{LOCK_TIMEOUT_S:g}",
                ) from None
            except OSError as exc:  # the lock file cannot be created: the same refusal as a failed write
                raise _unsaved(self.path, exc) from None
            try:
                yield
            finally:
                self._file_lock.release()

    # Reading ------------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int, int] | None:
        """The file's (inode, mtime, ctime, size); None when it does not exist. Raises OSError."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)

    def _parse(self) -> list[Instruction]:
        """The entries on disk, read now and remembered with the file's stamp.

        Raises:
            LibraryError, OSError: the file is unreadable (FileNotFoundError: there is none).
        """
        stamp = self._stamp()
        if stamp is None:
            raise FileNotFoundError(self.path)
        entries = parse_entries(self.path.read_bytes())
        # A writer may have replaced the file between stat and read: remember only a stable pair.
        if self._stamp() == stamp:
            self._seen = (stamp, entries)
        return list(entries)

    def _read(self) -> list[Instruction]:
        """The user's entries, from memory while the file is unchanged. A broken file is moved
        aside under the exclusive lock (after a second look, so a good file another process has
        just written is never moved)."""
        try:
            stamp = self._stamp()
        except OSError:
            stamp = None
        else:
            if stamp is None:
                return []
            if self._seen is not None and self._seen[0] == stamp:
                return list(self._seen[1])
        try:
            return self._parse()
        except FileNotFoundError:
            return []
        except (LibraryError, OSError):
            pass
        try:
            with self._exclusive():
                return self._read_locked()
        except LibraryError as exc:
            self.warning = Message(N_("The saved instruction library could not be read, nor moved aside ({error})."),
                                   {"error": exc.message})
            return []

    def _read_locked(self) -> list[Instruction]:
        """The entries on disk, read by the holder of the exclusive lock; a broken file is moved aside."""
        try:
            return self._parse()
        except FileNotFoundError:
            return []
        except (LibraryError, OSError) as exc:
            # Keep the broken file for the user, start afresh.
            aside = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = self.path
            self._seen = None
            self.warning = Message(N_("The saved instruction library could not be read ({error}); it was kept as {file}."),
                                   {"error": message_of(exc), "file": aside.name})
            return []

    def user(self) -> list[Instruction]:
        """The user's own entries, in the order they were created."""
        with self._lock:
            return self._read()

    def all(self) -> list[Instruction]:
        """Presets first, then the user's entries."""
        return [*PRESETS, *self.user()]

    def get(self, name: str) -> Instruction | None:
        key = _key(name)
        return next((i for i in self.all() if _key(i.name) == key), None)

    def names(self) -> list[str]:
        return [i.name for i in self.all()]

    # Changing (only under self._exclusive()) ----------------------------------------------
    def _write(self, entries: list[Instruction]) -> None:
        """Replace the file with `entries`; a failed write leaves the file as it was.

        Raises:
            LibraryError: the file cannot be written (disk full, read-only directory).
        """
        try:
            atomic_write_text(self.path, dump_entries(entries))
        except OSError as exc:
            raise _unsaved(self.path, exc) from None
        self._seen = (self._stamp(), list(entries))  # nobody else writes while the lock is held

    @staticmethod
    def _ensure_free(name: str, entries: list[Instruction], ignore: str | None = None) -> None:
        key = _key(name)
        if key in _PRESET_KEYS:
            raise LibraryError(N_("{name} is the name of a preset; choose another name."), name=repr(name))
        if any(_key(e.name) == key and _key(e.name) != ignore for e in entries):
            raise LibraryError(N_("An instruction named {name} already exists."), name=repr(name))

    def create(self, name: str, task: str, note: str = "") -> Instruction:
        instr = _checked(Instruction(name.strip(), task.strip(), note.strip()))
        with self._exclusive():
            entries = self._read_locked()
            self._ensure_free(instr.name, entries)
            self._write([*entries, instr])
        return instr

    def update(self, old_name: str, name: str, task: str, note: str = "") -> Instruction:
        """Replace the user entry `old_name` (which may be renamed); presets are read-only."""
        if _key(old_name) in _PRESET_KEYS:
            raise LibraryError(N_("{name} is a preset and cannot be changed; duplicate it and edit the copy."),
                               name=repr(old_name))
        instr = _checked(Instruction(name.strip(), task.strip(), note.strip()))
        with self._exclusive():
            entries = self._read_locked()
            idx = next((i for i, e in enumerate(entries) if _key(e.name) == _key(old_name)), None)
            if idx is None:
                raise LibraryError(N_("There is no instruction named {name}."), name=repr(old_name))
            self._ensure_free(instr.name, entries, ignore=_key(old_name))
            entries[idx] = instr
            self._write(entries)
        return instr

    def duplicate(self, name: str, new_name: str | None = None) -> Instruction:
        """Copy any entry (preset or not) to a new user entry, "<name> (copy)" by default."""
        source = self.get(name)
        if source is None:
            raise LibraryError(N_("There is no instruction named {name}."), name=repr(name))
        taken = {_key(n) for n in self.names()}
        if new_name is None:
            new_name, n = f"{source.name} (copy)", 2
            while _key(new_name) in taken:
                new_name, n = f"{source.name} (copy {n})", n + 1
        return self.create(new_name[:MAX_NAME_CHARS], source.task, source.note)

    def delete(self, name: str) -> None:
        if _key(name) in _PRESET_KEYS:
            raise LibraryError(N_("{name} is a preset and cannot be deleted."), name=repr(name))
        with self._exclusive():
            entries = self._read_locked()
            kept = [e for e in entries if _key(e.name) != _key(name)]
            if len(kept) == len(entries):
                raise LibraryError(N_("There is no instruction named {name}."), name=repr(name))
            self._write(kept)

    # Import / export ----------------------------------------------------------------------
    def export_json(self) -> str:
        """The user's entries as library JSON (presets ship with the app and are not exported)."""
        return dump_entries(self.user())

    def import_json(self, data: bytes | str) -> ImportResult:
        """Merge entries from library JSON; same-named user entries are replaced.

        A malformed file raises LibraryError and leaves the library unchanged.
        """
        incoming = parse_entries(data)  # validates everything before anything is written
        with self._exclusive():
            entries = self._read_locked()
            index = {_key(e.name): i for i, e in enumerate(entries)}
            added = replaced = 0
            for instr in incoming:
                if _key(instr.name) in index:
                    entries[index[_key(instr.name)]] = instr
                    replaced += 1
                else:
                    index[_key(instr.name)] = len(entries)
                    entries.append(instr)
                    added += 1
            self._write(entries)
        return ImportResult(added, replaced)


def load_library(data_dir: str | Path) -> InstructionLibrary:
    """The library stored under `data_dir` (the file is created on the first change)."""
    return InstructionLibrary(Path(data_dir) / LIBRARY_FILE)
