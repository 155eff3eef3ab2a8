#!/usr/bin/env python3
"""Render the documentation site of `parcours doc` in a real browser and save PNGs.

    .venv/bin/python bench/site_screenshot.py [--policies policies] [--site out/site]
        [--output out/site.png] [--page france] [--width 1366] [--height 2400]

Runs `parcours doc POLICIES -o SITE`, then headless Chromium (`chromium` or
`chromium-browser` on the PATH, e.g. Debian's `apt-get install chromium`) with a throw-away
profile and no network service on the index and on one policy's page; prints each PNG's
path and render time, and the number of rules and of open questions the page lists.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from report_screenshot import shoot  # the same browser run as the comparison report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--policies", nargs="+", default=["policies"])
    parser.add_argument("--site", default="out/site")
    parser.add_argument("--output", default="out/site.png",
                        help="the policy page's PNG; the index goes beside it (-index.png)")
    parser.add_argument("--page", default="france", help="the policy whose page is shot")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()

    site = (ROOT / args.site).resolve()
    output = (ROOT / args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    parcours = Path(sys.executable).parent / "parcours"
    subprocess.run([str(parcours), "doc", *args.policies, "-o", str(site)], cwd=ROOT,
                   check=True)
    page = site / f"{args.page}.html"
    html = page.read_text(encoding="utf-8")
    rules = len(re.findall(r'<tr id="rule-', html))
    questions = len(re.findall(r'<a href="#[^"]*">[^<]*</a></td><td>', html))
    index_png = output.with_name(output.stem + "-index.png")
    seconds = shoot(site / "index.html", index_png, args.width, 900)
    print(f"index:  {index_png} ({args.width}x900, rendered in {seconds:.1f} s)")
    seconds = shoot(page, output, args.width, args.height)
    print(f"page:   {output} ({args.width}x{args.height}, rendered in {seconds:.1f} s)")
    print(f"{args.page}: {rules} rules, {questions} open questions listed")


if __name__ == "__main__":
    main()
