"""Rerun cost: time and bytes of one display-only rerun of the Instruction Lab after Compare.

Usage: python -m bench.rerun_cost [--repeats 5] [--base-url URL --model M] [--no-profile] [--verbose]
Starts the stand-in embedding server (unless --base-url) and the app on loopback, opens
/Instructions in chromium, presses Compare, then repeats display-only interactions (the "k"
slider of the ranking table, one step by keyboard; a "Download CSV" click, which reruns the
script without changing anything) and prints, per interaction, the median and max of:

- rerun ms: from the websocket frame the browser sends (BackMsg rerun_script) to the frame that
  says the script finished (ForwardMsg script_finished), as seen by the browser over loopback:
  it includes the server's queueing and sending, not the browser's drawing;
- script ms: the script's own run time measured by Streamlit in the server (PageProfile
  exec_time, sent only when browser.gatherUsageStats is on: this script turns it on for the
  app it starts and keeps the browser off the network; --no-profile leaves it off);
- kB: websocket payload bytes the server sent between those two frames (compression is off by
  default, so close to the bytes on the wire), and the number of delta messages among them
  (cached refs: deltas the browser already had, sent as a reference).

Then the app process's resident memory (RSS). Widgets are found by visible label and role, and
the app is idle again before each interaction, so page layout changes do not break it.
"""

from __future__ import annotations

import argparse
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
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR}


@dataclass
class Frame:
    t: float  # time.perf_counter() when Playwright delivered the frame
    sent: bool  # browser -> server
    kind: str  # the BackMsg / ForwardMsg "type" (None if undecodable -> "?")
    size: int  # payload bytes
    msg: BackMsg | ForwardMsg | None


class Stream:
    """Every frame of the page's Streamlit websocket(s), decoded with Streamlit's protobufs."""

    def __init__(self, page) -> None:
        self.frames: list[Frame] = []
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        if "/_stcore/stream" in ws.url:
            ws.on("framesent", lambda payload: self._add(True, payload))
            ws.on("framereceived", lambda payload: self._add(False, payload))

    def _add(self, sent: bool, payload: bytes | str) -> None:
        t = time.perf_counter()
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            msg = (BackMsg if sent else ForwardMsg).FromString(data)
            kind = msg.WhichOneof("type") or "?"
        except DecodeError:
            msg, kind = None, "?"
        self.frames.append(Frame(t, sent, kind, len(data), msg))


@dataclass
class Sample:
    rerun_ms: float
    nbytes: int
    deltas: int
    cached: int
    script_ms: float | None
    requests: int  # rerun requests in the window (more than 1: the first run was cut short)
    kinds: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (ms after the request, kind)


def wait_idle(page, timeout_s: float = TIMEOUT_S) -> None:
    page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


def measure(page, stream: Stream, action: Callable[[], None]) -> Sample:
    """Run `action` (one interaction) and measure the rerun it causes."""
    mark = len(stream.frames)
    action()
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        frames = stream.frames[mark:]
        start = next((i for i, f in enumerate(frames) if f.sent and f.kind == "rerun_script"), None)
        end = None if start is None else next(
            (i for i, f in enumerate(frames[start:], start)
             if not f.sent and f.kind == "script_finished" and f.msg.script_finished in DONE), None)
        if end is not None:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no finished rerun within {TIMEOUT_S:.0f} s; frames: "
                               f"{[('>' if f.sent else '<') + f.kind for f in frames][:20]}")
        page.wait_for_timeout(10)  # lets Playwright deliver the frames that arrived meanwhile
    wait_idle(page)
    window = frames[start:end + 1]
    received = [f for f in window if not f.sent]
    kinds: dict[str, int] = {}
    for f in received:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    profile = next((f.msg.page_profile for f in reversed(received) if f.kind == "page_profile"), None)
    return Sample(
        rerun_ms=(window[-1].t - window[0].t) * 1000,
        nbytes=sum(f.size for f in received),
        deltas=kinds.get("delta", 0) + kinds.get("ref_hash", 0),
        cached=kinds.get("ref_hash", 0),
        script_ms=profile.exec_time / 1000 if profile is not None else None,
        requests=sum(1 for f in window if f.sent and f.kind == "rerun_script"),
        kinds=kinds,
        timeline=[((f.t - window[0].t) * 1000, ("> " if f.sent else "") + f.kind) for f in window],
    )


def move_slider(page, label: str) -> Callable[[], None]:
    """One keyboard step on the slider `label`: right, or left when it is at its maximum."""
    # Streamlit's thumb (an <input type=range>) is labelled by itself and by its group, so its
    # accessible name is the label twice ("k k").
    name = re.compile(rf"^{re.escape(label)}( {re.escape(label)})?$")

    def act() -> None:
        thumb = page.get_by_role("slider", name=name)
        now = thumb.get_attribute("aria-valuenow") or thumb.input_value()
        top = thumb.get_attribute("aria-valuemax") or thumb.get_attribute("max")
        thumb.press("ArrowLeft" if now == top else "ArrowRight")
    return act


def click_download(page, label: str) -> Callable[[], None]:
    """Click the first download button `label` and take the file (the click reruns the script)."""
    def act() -> None:
        with page.expect_download(timeout=TIMEOUT_S * 1000):
            page.get_by_role("button", name=label, exact=True).first.click()
    return act


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="measured interactions of each kind (after 1 warm-up)")
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--no-profile", action="store_true",
                        help="leave browser.gatherUsageStats off: no script ms (and no PageProfile cost)")
    parser.add_argument("--verbose", action="store_true", help="print the message types of every rerun")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    extra_env = {"EMBEDDING_MODEL": args.model}
    if not args.no_profile:
        extra_env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "true"
    interactions = {
        "k slider, one step": lambda page: move_slider(page, "k"),
        "Download CSV click": lambda page: click_download(page, "Download CSV"),
    }
    results: dict[str, list[Sample]] = {}
    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        app, app_url = launch_app(Path(tmp), url, **extra_env)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE_ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                stream = Stream(page)
                page.goto(f"{app_url}/Instructions")
                wait_idle(page, 180)
                began = time.perf_counter()
                page.get_by_role("button", name="Compare", exact=True).click()
                page.get_by_role("heading", name="4 · Results").wait_for(timeout=180_000)
                wait_idle(page, 180)
                print(f"Compare: results after {time.perf_counter() - began:.1f} s "
                      f"(app RSS {rss_mb(app.pid):.0f} MB)", flush=True)
                for name, make in interactions.items():
                    act = make(page)
                    results[name] = []
                    for i in range(args.repeats + 1):
                        sample = measure(page, stream, act)
                        page.wait_for_timeout(300)  # stragglers (late frames) stay out of the next window
                        tag = "warm-up" if i == 0 else f"{i:>7}"
                        extra = f"  ({sample.requests} rerun requests)" if sample.requests > 1 else ""
                        print(f"  {name:<20} {tag}: {sample.rerun_ms:7.1f} ms, script "
                              f"{fmt(sample.script_ms, '7.1f')} ms, {sample.nbytes / 1000:7.1f} kB, "
                              f"{sample.deltas} deltas ({sample.cached} cached){extra}", flush=True)
                        if args.verbose:
                            print(f"    {sample.kinds}")
                            marks = [m for i, m in enumerate(sample.timeline)
                                     if i < 3 or i >= len(sample.timeline) - 3 or m[1] != "delta"]
                            print("    " + ", ".join(f"{kind} {ms:.0f}" for ms, kind in marks))
                        if i:
                            results[name].append(sample)
                rss = rss_mb(app.pid)
                browser.close()
        finally:
            procs.stop(app)

    print(f"\nOne display-only rerun on /Instructions after Compare ({args.repeats} repeats each; "
          "rerun ms = browser-observed over loopback, script ms = server-side exec_time):")
    print(f"{'interaction':<20} {'rerun ms med':>12} {'max':>7} {'script ms med':>13} {'max':>7} "
          f"{'kB med':>8} {'max':>7} {'deltas':>7} {'cached':>7}")
    for name, samples in results.items():
        ms = [s.rerun_ms for s in samples]
        script = [s.script_ms for s in samples if s.script_ms is not None]
        kb = [s.nbytes / 1000 for s in samples]
        print(f"{name:<20} {statistics.median(ms):12.1f} {max(ms):7.1f} "
              f"{fmt(statistics.median(script) if script else None, '13.1f')} "
              f"{fmt(max(script) if script else None, '7.1f')} "
              f"{statistics.median(kb):8.1f} {max(kb):7.1f} "
              f"{statistics.median(s.deltas for s in samples):7.0f} "
              f"{statistics.median(s.cached for s in samples):7.0f}")
    print(f"app RSS after the runs: {rss:.0f} MB")


if __name__ == "__main__":
    main()
