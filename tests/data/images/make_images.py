#!/usr/bin/python3
"""Regenerates the tiny decoder test images in this folder (tests/io/image_test.cpp).

Run from anywhere: /usr/bin/python3 tests/data/images/make_images.py
Needs Pillow (python3-pil). Every image is a synthetic pattern whose expected decoded
values tests/io/image_test.cpp recomputes; keep the two in sync.
"""
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))

# Colours of the 16x16 blocks of the JPEG patterns, row-major over a 3 x 2 block grid
# (the same table is in image_test.cpp, kBlockColours).
BLOCK_COLOURS = [
    (230, 30, 30), (30, 200, 40), (40, 60, 220),
    (240, 220, 40), (30, 200, 210), (250, 250, 250),
]


def block_pattern(blocks_x, blocks_y, block=16):
    """RGB image of blocks_x x blocks_y flat blocks, colour index (by * blocks_x + bx) % 6."""
    img = Image.new("RGB", (blocks_x * block, blocks_y * block))
    px = img.load()
    for y in range(blocks_y * block):
        for x in range(blocks_x * block):
            px[x, y] = BLOCK_COLOURS[((y // block) * blocks_x + x // block) % len(BLOCK_COLOURS)]
    return img


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def raw_png(width, height, bit_depth, colour_type, rows):
    """A PNG written by hand (Pillow cannot write 16-bit RGB); rows are bytes, filter 0."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def main():
    # palette.png: 16 x 8, 4-entry palette, index (x // 4 + y // 4) % 4; entry 3 is fully
    # transparent through tRNS (the decoder must still give its RGB).
    palette = [(255, 0, 0), (0, 128, 255), (12, 34, 56), (200, 100, 50)]
    img = Image.new("P", (16, 8))
    img.putpalette([c for rgb in palette for c in rgb])
    img.putdata([(x // 4 + y // 4) % 4 for y in range(8) for x in range(16)])
    img.save(os.path.join(HERE, "palette.png"), transparency=3)

    # rgba.png: 8 x 8, RGB = (x * 32, y * 32, 100), alpha = ((x + y) % 4) * 85 (0 to 255).
    img = Image.new("RGBA", (8, 8))
    img.putdata([(x * 32, y * 32, 100, ((x + y) % 4) * 85) for y in range(8) for x in range(8)])
    img.save(os.path.join(HERE, "rgba.png"))

    # gray.png: 16 x 4 8-bit grayscale, value x * 16 + y * 3.
    img = Image.new("L", (16, 4))
    img.putdata([x * 16 + y * 3 for y in range(4) for x in range(16)])
    img.save(os.path.join(HERE, "gray.png"))

    # rgb16.png: 3 x 2 16-bit RGB; samples chosen so that v >> 8 and round(v / 257) differ.
    samples = [0x0000, 0x00FF, 0x12FF, 0x8080, 0xABCD, 0xFFFF,
               0x7FFF, 0x05A0, 0xFE80, 0x4000, 0x30E0, 0xC0FF,
               0x0101, 0x1234, 0x5678, 0x9ABC, 0xDEF0, 0xFF7F]
    rows = []
    for y in range(2):
        row = b""
        for x in range(3):
            base = (y * 3 + x) * 3
            row += struct.pack(">HHH", *samples[base:base + 3])
        rows.append(row)
    with open(os.path.join(HERE, "rgb16.png"), "wb") as f:
        f.write(raw_png(3, 2, 16, 2, rows))

    # zero_width.png: a well-formed PNG whose IHDR says width 0.
    with open(os.path.join(HERE, "zero_width.png"), "wb") as f:
        f.write(raw_png(0, 4, 8, 2, []))

    # huge_header.png: structurally valid, but its IHDR claims 40000 x 40000 pixels (more
    # than the decoder's limit), with no pixel data behind it.
    with open(os.path.join(HERE, "huge_header.png"), "wb") as f:
        f.write(raw_png(40000, 40000, 8, 0, []))

    # progressive.jpg: 4 x 3 blocks (64 x 48), progressive, 4:4:4, quality 95.
    block_pattern(4, 3).save(os.path.join(HERE, "progressive.jpg"), quality=95,
                             subsampling=0, progressive=True)

    # exif_rotate90.jpg: stored 3 x 2 blocks (48 x 32), EXIF orientation 6: shown rotated
    # 90 degrees clockwise (32 wide, 48 high). Baseline, 4:4:4, quality 95.
    exif = Image.Exif()
    exif[0x0112] = 6
    block_pattern(3, 2).save(os.path.join(HERE, "exif_rotate90.jpg"), quality=95,
                             subsampling=0, exif=exif.tobytes())

    # not_an_image.png: text with an image's extension.
    with open(os.path.join(HERE, "not_an_image.png"), "w") as f:
        f.write("This is a text file, not a PNG.\n")


if __name__ == "__main__":
    main()
