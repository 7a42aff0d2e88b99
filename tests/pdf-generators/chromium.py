#!/usr/bin/env python3
"""Render a document spec to PDF with headless Chromium (--print-to-pdf).

usage: chromium.py SPEC.json OUT.pdf

The title is a heading; lines that look like "N. rest" become rows of a table
(number and text in their own cells, as an HTML invoice or setlist would lay them
out); the other lines form a justified paragraph each, so Chromium places words
one run at a time.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


def page(spec):
    rows, paras = [], []
    for line in spec["lines"]:
        m = re.match(r"^(\d+)\. (.*)$", line)
        if m:
            rows.append(
                f"<tr><td class=n>{m.group(1)}.</td><td>{html.escape(m.group(2))}</td></tr>"
            )
        elif line:
            paras.append(f"<p>{html.escape(line)}</p>")
    return f"""<!doctype html><html lang=de><head><meta charset=utf-8><style>
body {{ font-family: 'DejaVu Sans', sans-serif; font-size: 11pt; }}
p {{ text-align: justify; width: 24em; }}
td.n {{ text-align: right; padding-right: 1.5em; }}
</style></head><body><h1>{html.escape(spec["title"])}</h1>
<table>{''.join(rows)}</table>{''.join(paras)}</body></html>"""


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    out = os.path.abspath(sys.argv[2])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no chromium on PATH (install Debian's chromium: .ci/run does)")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "doc.html")
        with open(src, "w", encoding="utf-8") as f:
            f.write(page(spec))
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-pdf-header-footer",
             f"--user-data-dir={d}/profile", f"--print-to-pdf={out}",
             "file://" + src],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=120,
        )


if __name__ == "__main__":
    main()
