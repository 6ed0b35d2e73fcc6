#!/usr/bin/env python3
"""Generates the large "scanned document" used by the sealing benchmark.

What it makes: a PDF of full-page JPEG images, one per page, like the output of a document
scanner. The images are real content: the pages of the corpus PDFs
(tests/corpus/01_*, 13_*, 04_*) rendered by poppler's `pdftoppm` at 300 dpi, colour,
JPEG quality 90 (about 0.5-1 MB per page). Pages are appended in that order, cycling through
the corpus again if needed, until the file reaches --min-bytes (67,000,000 by default, the
size of the "67 MB scanned PDF" in docs/DOMAIN.md section 5).

The PDF itself is written by hand (no third-party Python package): each page is a /Page whose
content stream draws one /DCTDecode image XObject filling the MediaBox (the JPEG bytes are
embedded unchanged), followed by a classic cross-reference table. The result is checked with
`qpdf --check` when qpdf is installed.

Run: python3 benches/make_large_pdf.py OUT.pdf [--min-bytes N] [--corpus DIR]
(scripts/bench.sh calls it when target/bench-data/large-scanned.pdf is missing.)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

CORPUS_FILES = [
    "01_debian_shared-mime-info-spec.pdf",
    "13_libreoffice_cjk_notice.pdf",
    "04_debian_texlive_amsclass_linearized.pdf",
]
DPI = 300


def jpeg_info(data: bytes):
    """Width, height and component count from the first SOF marker of a baseline/progressive JPEG."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"bad JPEG marker at {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3):
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height, data[i + 9]
        i += 2 + length
    raise ValueError("no SOF marker")


def render_pages(corpus: str, workdir: str):
    """Renders every page of the corpus files; returns the JPEG paths in order."""
    pages = []
    for n, name in enumerate(CORPUS_FILES):
        prefix = os.path.join(workdir, f"f{n}")
        subprocess.run(
            ["pdftoppm", "-r", str(DPI), "-jpeg", "-jpegopt", "quality=90", os.path.join(corpus, name), prefix],
            check=True,
        )
        rendered = sorted(p for p in os.listdir(workdir) if p.startswith(f"f{n}-"))
        pages.extend(os.path.join(workdir, p) for p in rendered)
    return pages


class PdfWriter:
    """Just enough of a PDF writer for image-only pages: numbered objects and a classic xref."""

    def __init__(self, out):
        self.out = out
        self.offsets = {}
        self.pos = 0
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, b: bytes):
        self.out.write(b)
        self.pos += len(b)

    def obj(self, num: int, body: bytes, stream: bytes = None):
        self.offsets[num] = self.pos
        self._write(b"%d 0 obj\n" % num + body)
        if stream is not None:
            self._write(b"\nstream\n")
            self._write(stream)
            self._write(b"\nendstream")
        self._write(b"\nendobj\n")

    def finish(self, size: int, root: int):
        xref_at = self.pos
        lines = [b"xref\n0 %d\n" % size, b"0000000000 65535 f \n"]
        for num in range(1, size):
            lines.append(b"%010d 00000 n \n" % self.offsets[num])
        self._write(b"".join(lines))
        self._write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref_at))


def build(out_path: str, jpegs, min_bytes: int):
    # Objects: 1 catalog, 2 page tree, then per page: page, contents, image.
    tmp = out_path + ".tmp"
    count = 0
    with open(tmp, "wb") as f:
        w = PdfWriter(f)
        kids = []
        i = 0
        while w.pos < min_bytes:
            data = open(jpegs[i % len(jpegs)], "rb").read()
            i += 1
            width, height, comps = jpeg_info(data)
            colour = {1: b"/DeviceGray", 3: b"/DeviceRGB", 4: b"/DeviceCMYK"}[comps]
            pw, ph = width * 72 / DPI, height * 72 / DPI
            page, contents, image = 3 + 3 * count, 4 + 3 * count, 5 + 3 * count
            draw = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (pw, ph)
            w.obj(image, b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s "
                         b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>" % (width, height, colour, len(data)), data)
            w.obj(contents, b"<< /Length %d >>" % len(draw), draw)
            w.obj(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Contents %d 0 R "
                        b"/Resources << /XObject << /Im0 %d 0 R >> >> >>" % (pw, ph, contents, image))
            kids.append(page)
            count += 1
        w.obj(2, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (count, b" ".join(b"%d 0 R" % k for k in kids)))
        w.obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        w.finish(3 + 3 * count, 1)
    os.replace(tmp, out_path)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--min-bytes", type=int, default=67_000_000)
    ap.add_argument("--corpus", default=os.environ.get("ESEAL_CORPUS") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus"))
    args = ap.parse_args()
    if shutil.which("pdftoppm") is None:
        sys.exit("make_large_pdf: pdftoppm (poppler-utils) is required")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eseal-bench-") as workdir:
        jpegs = render_pages(args.corpus, workdir)
        pages = build(args.out, jpegs, args.min_bytes)
    size = os.path.getsize(args.out)
    if shutil.which("qpdf"):
        r = subprocess.run(["qpdf", "--check", args.out], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"make_large_pdf: qpdf --check failed:\n{r.stdout}{r.stderr}")
    print(f"make_large_pdf: wrote {args.out}: {pages} pages from {len(jpegs)} rendered corpus pages, {size} bytes")


if __name__ == "__main__":
    main()
