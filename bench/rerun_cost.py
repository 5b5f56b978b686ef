"""Rerun cost: time and bytes of one display-only rerun of the Instruction Lab after Compare.

Usage: python -m bench.rerun_cost [--repeats 5] [--base-url URL --model M] [--profile] [--verbose]
Starts the stand-in embedding server (unless --base-url) and the app on loopback (temporary data
directory), opens /Instructions in chromium, presses Compare, then repeats display-only
interactions, each after one warm-up: the "k" slider of the ranking table, one step by keyboard;
a "Download CSV" click (it reruns the script and changes nothing). Prints, per interaction, the
median and max of:

- rerun ms: from the websocket frame the browser sends (BackMsg rerun_script) to the frame that
  says the script finished (ForwardMsg script_finished), both stamped by the browser's network
  stack (DevTools protocol) over loopback. The server's whole share: the script, Streamlit's
  full garbage collection after each run (runner.postScriptGC: it holds the GIL, so the last
  deltas and script_finished wait for it), queueing and sending; not the browser's drawing, nor
  the slider's debounce before the request.
- script ms: the page script's own run time measured by Streamlit in the server (PageProfile
  exec_time, sent only when browser.gatherUsageStats is on: it is turned on for the app started
  here only with --profile, the browser kept off the network).
- kB: websocket payload bytes the server sent between those two frames, PageProfile excluded
  (compression is off by default, so about the bytes on the wire); deltas: delta messages among
  them, "cached" ones being references to a delta the browser already holds.

Then the app process's resident memory (RSS). Widgets are found by visible label and role, and
the app must be idle before each interaction, so page layout changes do not break it.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench._common import embedding_server
from bench.soak import rss_mb
from tests.support import procs
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, launch_app

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
# With usage stats on, the browser would post them to Streamlit: resolve nothing but loopback.
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
TIMEOUT_S = 60.0
NO_RERUN_S = 5.0  # an interaction that sent no rerun request by then causes none
SETTLE_MS = 300  # after idle: late frames stay out of the next window, and are counted
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR}


@dataclass
class Frame:
    t: float  # the browser's network timestamp (s)
    sent: bool  # browser -> server
    kind: str  # BackMsg / ForwardMsg "type" ("?" if undecodable)
    size: int  # payload bytes
    msg: BackMsg | ForwardMsg | None


class Stream:
    """Every frame of the page's Streamlit websocket, decoded with Streamlit's protobufs.

    Frames come from the DevTools protocol (the source of Playwright's own websocket events),
    which stamps each with the browser's network time; Playwright's events carry no time, so
    stamping them on arrival in Python would add the driver's delivery delay.
    """

    def __init__(self, page) -> None:
        self.frames: list[Frame] = []
        self._sockets: set[str] = set()
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", self._on_created)
        cdp.on("Network.webSocketFrameSent", lambda event: self._add(True, event))
        cdp.on("Network.webSocketFrameReceived", lambda event: self._add(False, event))
        cdp.send("Network.enable")

    def _on_created(self, event: dict) -> None:
        if "/_stcore/stream" in event["url"]:
            self._sockets.add(event["requestId"])

    def _add(self, sent: bool, event: dict) -> None:
        if event["requestId"] not in self._sockets:
            return
        frame = event["response"]
        payload = frame["payloadData"]
        data = base64.b64decode(payload) if frame["opcode"] == 2 else payload.encode()
        try:
            msg = (BackMsg if sent else ForwardMsg).FromString(data)
            kind = msg.WhichOneof("type") or "?"
        except DecodeError:
            msg, kind = None, "?"
        self.frames.append(Frame(event["timestamp"], sent, kind, len(data), msg))


@dataclass
class Sample:
    rerun_ms: float
    nbytes: int  # without the PageProfile message, which only this measurement turns on
    deltas: int
    cached: int
    script_ms: float | None
    requests: int  # rerun requests in the window (more than 1: the first run was cut short)
    late: dict[str, int]  # bytes by kind received after script_finished, before the next interaction
    kinds: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (ms after the request, kind)


def count_bytes(frames) -> dict[str, int]:
    totals: dict[str, int] = {}
    for f in frames:
        totals[f.kind] = totals.get(f.kind, 0) + f.size
    return totals


def wait_idle(page, timeout_s: float = TIMEOUT_S) -> None:
    page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


def measure(page, stream: Stream, action: Callable[[], None]) -> Sample | None:
    """Run `action` (one interaction) and measure the rerun it causes; None if it causes none."""
    mark = len(stream.frames)
    action()
    began = time.monotonic()
    while True:
        frames = stream.frames[mark:]
        start = next((i for i, f in enumerate(frames) if f.sent and f.kind == "rerun_script"), None)
        if start is None and time.monotonic() - began > NO_RERUN_S:
            wait_idle(page)
            return None
        end = None if start is None else next(
            (i for i, f in enumerate(frames[start:], start)
             if not f.sent and f.kind == "script_finished" and f.msg.script_finished in DONE), None)
        if end is not None:
            break
        if time.monotonic() - began > TIMEOUT_S:
            raise TimeoutError(f"no finished rerun within {TIMEOUT_S:.0f} s; frames: "
                               f"{[('>' if f.sent else '<') + f.kind for f in frames][:20]}")
        page.wait_for_timeout(10)  # lets Playwright deliver the frames that arrived meanwhile
    wait_idle(page)
    page.wait_for_timeout(SETTLE_MS)
    frames = stream.frames[mark:]
    window = frames[start:end + 1]
    received = [f for f in window if not f.sent]
    kinds: dict[str, int] = {}
    for f in received:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    profile = next((f.msg.page_profile for f in received if f.kind == "page_profile"), None)
    return Sample(
        rerun_ms=(window[-1].t - window[0].t) * 1000,
        nbytes=sum(f.size for f in received if f.kind != "page_profile"),
        deltas=kinds.get("delta", 0) + kinds.get("ref_hash", 0),
        cached=kinds.get("ref_hash", 0),
        script_ms=profile.exec_time / 1000 if profile is not None else None,
        requests=sum(1 for f in window if f.sent and f.kind == "rerun_script"),
        late=count_bytes(f for f in frames[end + 1:] if not f.sent),
        kinds=kinds,
        timeline=[((f.t - window[0].t) * 1000, ("> " if f.sent else "") + f.kind) for f in window],
    )


def move_slider(page, label: str) -> Callable[[], None]:
    """One keyboard step on the slider `label`, up and back down in turn (so the table keeps its
    size from one repeat to the next); down first when it is at its maximum."""
    # Streamlit's thumb (an <input type=range>) is labelled by itself and by its group, so its
    # accessible name is the label twice ("k k").
    name = re.compile(rf"^{re.escape(label)}( {re.escape(label)})?$")
    last = ["ArrowLeft"]

    def act() -> None:
        thumb = page.get_by_role("slider", name=name)
        now = thumb.get_attribute("aria-valuenow") or thumb.input_value()
        top = thumb.get_attribute("aria-valuemax") or thumb.get_attribute("max")
        last[0] = "ArrowLeft" if now == top or last[0] == "ArrowRight" else "ArrowRight"
        thumb.press(last[0])
    return act


def click_button(page, label: str) -> Callable[[], None]:
    """Click the first button `label` (a download button: the browser takes the file)."""
    def act() -> None:
        page.get_by_role("button", name=label, exact=True).first.click()
    return act


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted with `spec` ("7.1f"), or "n/a" right-aligned to the same width."""
    return format("n/a", ">" + spec.split(".")[0]) if value is None else format(value, spec)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="measured interactions of each kind (after 1 warm-up)")
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--profile", action="store_true",
                        help="turn browser.gatherUsageStats on for the app started here (browser kept off the "
                             "network) to read Streamlit's own script time")
    parser.add_argument("--verbose", action="store_true", help="print the message types of every rerun")
    return parser


def _compare(page, app, app_url: str) -> None:
    """Open the Instruction Lab and press Compare; wait for the results."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.goto(f"{app_url}/Instructions")
    wait_idle(page, 180)
    began = time.perf_counter()
    compare = page.get_by_role("button", name="Compare", exact=True)
    try:
        compare.wait_for(timeout=60_000)
    except PlaywrightTimeoutError:
        raise SystemExit("no Compare button on /Instructions; the page shows:\n"
                         + page.locator("body").inner_text()[:600]) from None
    compare.click()
    page.get_by_role("heading", name=re.compile("Results")).first.wait_for(timeout=180_000)
    wait_idle(page, 180)
    print(f"Compare: results after {time.perf_counter() - began:.1f} s "
          f"(app RSS {rss_mb(app.pid):.0f} MB)", flush=True)


def _repeat(page, stream: Stream, act, name: str, repeats: int, verbose: bool) -> list[Sample | None]:
    """One warm-up and `repeats` measured runs of `act`, each printed as it comes."""
    measured: list[Sample | None] = []
    for i in range(repeats + 1):
        sample = measure(page, stream, act)
        tag = "warm-up" if i == 0 else f"{i:>7}"
        if i:
            measured.append(sample)
        if sample is None:
            print(f"  {name:<20} {tag}: no rerun", flush=True)
            continue
        extra = f"  ({sample.requests} rerun requests)" if sample.requests > 1 else ""
        if set(sample.late) - {"heartbeat_ack", "session_status_changed"}:
            extra += f"  (after script_finished, bytes: {sample.late})"
        print(f"  {name:<20} {tag}: {sample.rerun_ms:7.1f} ms, script "
              f"{fmt(sample.script_ms, '7.1f')} ms, {sample.nbytes / 1000:7.1f} kB, "
              f"{sample.deltas} deltas ({sample.cached} cached){extra}", flush=True)
        if verbose:
            print(f"    {sample.kinds}, after script_finished (bytes): {sample.late}")
            marks = [m for n, m in enumerate(sample.timeline)
                     if n < 3 or n >= len(sample.timeline) - 3 or m[1] != "delta"]
            print("    " + ", ".join(f"{kind} {ms:.0f}" for ms, kind in marks))
    return measured


def _print_table(results: dict[str, list[Sample | None]], repeats: int) -> None:
    print(f"\nOne display-only rerun on /Instructions after Compare ({repeats} repeats each; "
          "rerun ms = browser-observed over loopback, script ms = server-side exec_time):")
    print(f"{'interaction':<20} {'rerun ms med':>12} {'max':>7} {'script ms med':>13} {'max':>7} "
          f"{'kB med':>8} {'max':>7} {'deltas':>7} {'cached':>7}")
    for name, measured in results.items():
        samples = [s for s in measured if s is not None]
        if len(samples) < len(measured):
            print(f"{name:<20} no rerun in {len(measured) - len(samples)} of {len(measured)} repeats")
        if not samples:
            continue
        ms = [s.rerun_ms for s in samples]
        script = [s.script_ms for s in samples if s.script_ms is not None]
        kb = [s.nbytes / 1000 for s in samples]
        print(f"{name:<20} {statistics.median(ms):12.1f} {max(ms):7.1f} "
              f"{fmt(statistics.median(script) if script else None, '13.1f')} "
              f"{fmt(max(script) if script else None, '7.1f')} "
              f"{statistics.median(kb):8.1f} {max(kb):7.1f} "
              f"{statistics.median(s.deltas for s in samples):7.0f} "
              f"{statistics.median(s.cached for s in samples):7.0f}")


def main() -> None:
    args = _parser().parse_args()
    from playwright.sync_api import sync_playwright

    extra_env = {"EMBEDDING_MODEL": args.model}
    if args.profile:
        extra_env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "true"
    interactions = {
        "k slider, one step": lambda page: move_slider(page, "k"),
        "Download CSV click": lambda page: click_button(page, "Download CSV"),
    }
    results: dict[str, list[Sample | None]] = {}
    load_before = os.getloadavg()[0]
    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        app, app_url = launch_app(Path(tmp), url, **extra_env)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE_ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                stream = Stream(page)
                _compare(page, app, app_url)
                for name, make in interactions.items():
                    results[name] = _repeat(page, stream, make(page), name, args.repeats, args.verbose)
                rss = rss_mb(app.pid)
                browser.close()
        finally:
            procs.stop(app)
    _print_table(results, args.repeats)
    print(f"app RSS after the runs: {rss:.0f} MB")
    # Other work on the machine inflates the times: say how busy it was (the figure after the run
    # includes this run's own app and browser).
    print(f"load average (1 min): {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
