#!/usr/bin/env python3
"""Draw a red round Chinese official-seal style image (DEVELOPMENT SAMPLE ONLY).

Outer ring, five-pointed star in the centre, organisation name along the upper
arc, seal kind in a straight line under the star. Transparent background
(RGBA, alpha 0 outside the ink). Requires Pillow and a CJK font
(Debian/Ubuntu: apt-get install fonts-noto-cjk).

Usage:
    make_seal_png.py --org 示例市行政审批局 --kind 行政审批专用章 --out seal.png
                     [--size 400] [--font /path/to/font.ttc] [--font-index N]

Output is deterministic for a given Pillow version and font file.
"""

import argparse
import math
import sys

from PIL import Image, ImageDraw, ImageFont

INK = (0xD0, 0x00, 0x00)  # seal red
SS = 4  # supersampling factor for anti-aliasing

# Song/serif typeface first (what real seals use), sans-serif as a fallback.
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/noto-cjk/NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC"),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
]


def find_font(path, index):
    """Return (path, ttc index) of a CJK font, or exit with a hint."""
    if path:
        return path, index
    for cand, family in FONT_CANDIDATES:
        for i in range(16):
            try:
                f = ImageFont.truetype(cand, 10, index=i)
            except OSError:
                break
            if family is None or f.getname()[0] == family:
                return cand, i
    sys.exit(
        "make_seal_png.py: no CJK font found; install one "
        "(apt-get install fonts-noto-cjk) or pass --font"
    )


def glyph_tile(ch, font, x_scale):
    """Render one character, centred, into an 'L' mask tile; condense horizontally."""
    bbox = font.getbbox(ch)
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    side = int(max(w, h) * 1.4) + 4
    tile = Image.new("L", (side, side), 0)
    ImageDraw.Draw(tile).text((side / 2, side / 2), ch, font=font, fill=255, anchor="mm")
    if x_scale != 1.0:
        tile = tile.resize((max(1, int(side * x_scale)), side), Image.LANCZOS)
    return tile


def paste_centered(mask, tile, cx, cy):
    mask.paste(255, (int(round(cx - tile.width / 2)), int(round(cy - tile.height / 2))), tile)


def star_points(cx, cy, r_outer):
    r_inner = r_outer * math.sin(math.radians(18)) / math.sin(math.radians(54))
    pts = []
    for k in range(10):
        r = r_outer if k % 2 == 0 else r_inner
        a = math.radians(-90 + 36 * k)  # first point straight up
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def draw_seal(org, kind, size, font_path, font_index):
    S = size * SS
    c = S / 2
    mask = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(mask)

    # Outer ring.
    r_out = S * 0.475
    ring_w = S * 0.032
    d.ellipse((c - r_out, c - r_out, c + r_out, c + r_out), fill=255)
    r_in = r_out - ring_w
    d.ellipse((c - r_in, c - r_in, c + r_in, c + r_in), fill=0)

    # Five-pointed star in the centre.
    d.polygon(star_points(c, c, S * 0.15), fill=255)

    # Organisation name along the upper arc, tops of the characters outwards.
    n = len(org)
    arc_font_px = int(S * (0.125 if n <= 8 else 0.11 if n <= 11 else 0.09))
    arc_font = ImageFont.truetype(font_path, arc_font_px, index=font_index)
    r_text = r_in - S * 0.022 - arc_font_px * 0.55
    span = min(250.0, 24.0 * (n - 1) if n > 8 else 27.0 * (n - 1))  # degrees
    for i, ch in enumerate(org):
        phi = 0.0 if n == 1 else -span / 2 + span * i / (n - 1)  # clockwise from 12 o'clock
        tile = glyph_tile(ch, arc_font, 0.82).rotate(-phi, resample=Image.BICUBIC, expand=True)
        rad = math.radians(phi)
        paste_centered(mask, tile, c + r_text * math.sin(rad), c - r_text * math.cos(rad))

    # Seal kind, straight line under the star.
    m = len(kind)
    kind_px = int(S * (0.085 if m <= 5 else 0.075 if m <= 7 else 0.06))
    kind_font = ImageFont.truetype(font_path, kind_px, index=font_index)
    y = c + S * 0.25
    step = kind_px * 0.98
    x0 = c - step * (m - 1) / 2
    for i, ch in enumerate(kind):
        paste_centered(mask, glyph_tile(ch, kind_font, 0.9), x0 + step * i, y)

    mask = mask.resize((size, size), Image.LANCZOS)
    img = Image.new("RGBA", (size, size), INK + (0,))
    img.putalpha(mask)
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--org", required=True, help="organisation name (upper arc)")
    ap.add_argument("--kind", required=True, help="seal kind (straight line under the star)")
    ap.add_argument("--out", required=True, help="output PNG path")
    ap.add_argument("--size", type=int, default=400, help="width = height in px (default 400)")
    ap.add_argument("--font", help="CJK font file (default: first Noto CJK SC found)")
    ap.add_argument("--font-index", type=int, default=0, help="face index in a .ttc (with --font)")
    a = ap.parse_args()
    font_path, font_index = find_font(a.font, a.font_index)
    img = draw_seal(a.org, a.kind, a.size, font_path, font_index)
    img.save(a.out, format="PNG", optimize=True)
    print(f"  {a.out}: {a.size}x{a.size} RGBA, font {font_path}#{font_index}")


if __name__ == "__main__":
    main()
