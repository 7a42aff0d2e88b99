#!/usr/bin/env python3
"""Render a document spec to PDF with fpdf2 (PyPI), DejaVu Sans embedded.

usage: fpdf2_doc.py SPEC.json OUT.pdf
"""
import json
import sys

from fpdf import FPDF

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", fname=FONT)
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.cell(0, 10, spec["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=11)
    for line in spec["lines"]:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(sys.argv[2])


if __name__ == "__main__":
    main()
