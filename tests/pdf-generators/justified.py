#!/usr/bin/env python3
"""Render a document spec to PDF as justified text, word gaps as TJ offsets.

usage: justified.py SPEC.json OUT.pdf

No dependency. Every line is one TJ array: words are separate strings, the gap
between two words is a negative number (the pen moves right) and no space glyph
is shown, as PDFKit and TeX set justified text. Words of four letters or more
carry a small kerning offset after their first letter, which must not read as a
gap. Helvetica (a standard font) with its widths table for the letters used.
"""
import json
import sys
import zlib

# Helvetica advance widths (thousandths of an em), AFM; 556 for the rest.
WIDTHS = {" ": 278, ".": 278, ",": 278, ":": 278, "-": 333, "(": 333, ")": 333,
          "i": 222, "l": 222, "j": 222, "f": 278, "t": 278, "r": 333, "I": 278,
          "m": 833, "w": 722, "M": 833, "W": 944}
FONT_SIZE = 11
LINE_WIDTH = 480.0  # points
LEFT, TOP, LEADING = 56, 780, 16


def esc(s):
    b = s.encode("cp1252", errors="replace")
    return b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def width(word):
    return sum(WIDTHS.get(c, 556) for c in word) * FONT_SIZE / 1000.0


def tj_line(words, justify):
    natural = sum(width(w) for w in words)
    gaps = len(words) - 1
    gap_pt = (LINE_WIDTH - natural) / gaps if justify and gaps else 278 * FONT_SIZE / 1000.0
    gap = -round(gap_pt * 1000.0 / FONT_SIZE)
    parts = []
    for i, w in enumerate(words):
        if i:
            parts.append(str(gap).encode())
        if len(w) >= 4:
            parts += [b"(" + esc(w[0]) + b")", b"15", b"(" + esc(w[1:]) + b")"]
        else:
            parts.append(b"(" + esc(w) + b")")
    return b"[" + b" ".join(parts) + b"] TJ"


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    ops = [b"BT", b"/F1 16 Tf", f"{LEFT} {TOP} Td".encode(),
           tj_line(spec["title"].split(), False), f"/F1 {FONT_SIZE} Tf".encode(),
           f"{LEADING} TL".encode(), b"T*"]
    for line in spec["lines"]:
        ops.append(b"T*")
        words = line.split()
        if words:
            # Justify every line that is long enough to look like running text.
            ops.append(tj_line(words, width(" ".join(words)) > LINE_WIDTH * 0.5))
    ops.append(b"ET")
    content = zlib.compress(b"\n".join(ops))
    first, last = 32, 255
    widths = " ".join(str(WIDTHS.get(bytes([c]).decode("cp1252", "replace"), 556))
                      for c in range(first, last + 1))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding "
        f"/FirstChar {first} /LastChar {last} /Widths [{widths}] >>".encode(),
        f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode()
        + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    with open(sys.argv[2], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
