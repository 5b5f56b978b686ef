"""Soak: drive every page in chromium for a while and report the app's memory at start and end.

Usage: python -m bench.soak [--minutes 15] [--base-url URL --model M]
Starts the stand-in embedding server (unless --base-url) and the app on loopback, then two browser
contexts (two users) visit every page in turn, pressing each page's primary buttons, until the
time is up. Prints the app process's resident memory (RSS) over time and the growth.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, embedding_server
from tests.support import procs
from tests.support.browser import CHROMIUM_ARGS


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def page_paths() -> list[str]:
    return [""] + [p.stem.split("_", 1)[1] for p in sorted((ROOT / "pages").glob("*.py"))]


def drive(page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=180_000)
    # Press the page's primary action buttons (form submits and primary buttons), if any.
    for button in page.locator("button[kind='primaryFormSubmit'], button[kind='primary']").all()[:2]:
        if button.is_visible() and button.is_enabled():
            button.click()
            page.wait_for_timeout(300)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=180_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        port = procs.free_port()
        env = dict(os.environ, EMBEDDING_BASE_URL=url, EMBEDDING_MODEL=args.model, PLAYGROUND_DATA_DIR=f"{tmp}/data")
        app = procs.start(
            [str(procs.VENV_BIN / "streamlit"), "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            f"http://127.0.0.1:{port}/_stcore/health", Path(tmp) / "app.log", env=env, cwd=ROOT,
        )
        app_url = f"http://127.0.0.1:{port}"
        samples: list[tuple[float, float]] = []
        visits = errors = 0
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                users = [browser.new_context(viewport={"width": 1400, "height": 900}).new_page() for _ in range(2)]
                # One warm-up pass: the baseline then includes imports, caches and compiled code,
                # so growth after it is what long sessions add.
                for path in page_paths():
                    drive(users[0], app_url, path)
                start = time.monotonic()
                samples.append((0.0, rss_mb(app.pid)))
                print(f"start: {samples[0][1]:.0f} MB RSS", flush=True)
                deadline = start + args.minutes * 60
                while time.monotonic() < deadline:
                    for path in page_paths():
                        for user in users:
                            if time.monotonic() >= deadline:
                                break
                            try:
                                drive(user, app_url, path)
                                visits += 1
                            except Exception as exc:  # noqa: BLE001 - a soak counts failures, keeps going
                                errors += 1
                                print(f"  error on /{path}: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
                    elapsed = time.monotonic() - start
                    samples.append((elapsed, rss_mb(app.pid)))
                    print(f"{elapsed / 60:5.1f} min: {samples[-1][1]:.0f} MB RSS, {visits} page visits", flush=True)
                browser.close()
        finally:
            procs.stop(app)
    first, last = samples[0][1], samples[-1][1]
    peak = max(mb for _, mb in samples)
    print(f"app RSS: start {first:.0f} MB, end {last:.0f} MB, peak {peak:.0f} MB, "
          f"growth {last - first:+.0f} MB ({(last - first) / first * 100:+.1f}%) over "
          f"{samples[-1][0] / 60:.1f} min; {visits} page visits, {errors} errors")


if __name__ == "__main__":
    main()
