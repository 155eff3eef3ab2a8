#!/usr/bin/env python3
"""Render the HTML comparison report in a real browser and save it as a PNG.

    .venv/bin/python bench/report_screenshot.py [--output out/report.png]
        [--policies OLD NEW] [--input EPISODES.jsonl] [--report out/report.html]
        [--width 1366] [--height 900] [--full] [--set NAME=VALUE ...]

Runs `parcours compare ... --report` (by default Morocco's status quo against the proposal
on the Moroccan sample), then headless Chromium (`chromium` or `chromium-browser` on the
PATH, e.g. Debian's `apt-get install chromium`) with a throw-away profile and no network
service, and prints the report's headline sentence, the PNG's path and the render time.
`--full` uses a 4,000 px tall window, enough for the whole Morocco report (headless
Chromium screenshots the window, not the page).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no chromium on the PATH (Debian: apt-get install chromium)")


def shoot(page: Path, png: Path, width: int, height: int) -> float:
    """`page` rendered by headless Chromium into `png` (a throw-away profile, no network
    service); the seconds it took."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{height}", page.as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def headline(html: str) -> str:
    match = re.search(r'<p class="headline">(.*?)</p>', html, re.DOTALL)
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))) if match else "(no headline)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", nargs=2, default=["policies/morocco.parcours",
                                                        "policies/morocco_proposal.parcours"])
    parser.add_argument("--input", default="policies/samples/episodes-ma.jsonl")
    parser.add_argument("--report", default="out/report.html")
    parser.add_argument("--output", default="out/report.png")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full", action="store_true", help="a 4,000 px tall window")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    report = Path(args.report).resolve()
    output = Path(args.output).resolve()
    report.parent.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    parcours = Path(sys.executable).parent / "parcours"
    command = [str(parcours), "compare", *args.policies, "--input", args.input,
               "--report", str(report)]
    for item in args.sets:
        command += ["--set", item]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    height = 4000 if args.full else args.height
    seconds = shoot(report, output, args.width, height)
    print(f"headline: {headline(report.read_text(encoding='utf-8'))}")
    print(f"report:   {report}")
    print(f"png:      {output} ({args.width}x{height}, rendered in {seconds:.1f} s)")


if __name__ == "__main__":
    main()
