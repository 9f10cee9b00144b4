#!/usr/bin/env python3
"""Memory of `sam3rt serve` under concurrent uploads of the largest image it accepts.

Starts the server on a tiny random-weight checkpoint (tests/server/tiny_config.json) with
a pixel limit P (--max-pixels), an image cache of C MiB, H request threads and S
inference slots, writes a P-pixel PNG of random noise (it barely compresses: the body is
about 3P bytes), uploads it once to warm up, reads the server's RSS, then sends N uploads
of it at once and reads the peak RSS (VmHWM) when all are answered. Every upload must be
answered 200 (a request waits for a thread; none is refused).

The bound checked, the server's stated working set (docs/server.md, "Concurrency and
memory"):

    peak - idle <= C + H * B + S * (11P + E) + M

B is the body size (a request thread holds one body, read into a string reserved from
its Content-Length); 11P what an inference slot holds of one upload at most: the
decoder's buffer and the RGB tensor (3P bytes each) and the preprocessing of one channel
(P bytes of uint8 and 4P of float); E the encoder's own working set, which does not
depend on P (the image is resized to the model's input first), measured here as the peak
rise of uploading a 64x48 image; M a fixed 64 MiB for the allocator. Exit 1 if the bound
is exceeded or an upload fails.

    scripts/upload_memory.py                       # P = 2^22, C = 64, H = 8, S = 2, N = 40
"""
import argparse
import http.client
import os
import random
import struct
import sys
import threading
import time
import zlib

import tiny_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.environ.get("BUILD_DIR", "build"))
    p.add_argument("--out", default=None, help="working directory (default BUILD/upload-memory)")
    p.add_argument("--pixels", type=int, default=1 << 22, help="the server's --max-pixels, and the image's size")
    p.add_argument("--cache-mb", type=int, default=64)
    p.add_argument("--http-threads", type=int, default=8)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--uploads", type=int, default=40)
    p.add_argument("--slack-mb", type=int, default=64)
    return p.parse_args()


def noise_png(width, height, seed=1):
    """An RGB PNG of reproducible random pixels (incompressible: the file is about 3P bytes)."""
    rows = random.Random(seed).randbytes(width * 3 * height)
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        raw += rows[y * width * 3:(y + 1) * width * 3]

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + chunk(b"IEND", b"")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0: writing 5 to clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def upload(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/images", body=body, headers={"Content-Type": "image/png"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def main():
    args = parse_args()
    os.chdir(ROOT)
    out = args.out or os.path.join(args.build, "upload-memory")
    width = 1 << ((args.pixels.bit_length() - 1 + 1) // 2)
    height = args.pixels // width
    body = noise_png(width, height)
    pixels = width * height

    server, port = tiny_server.start(
        args.build, out, "upload_memory",
        ["--http-threads", str(args.http_threads), "--inference-slots", str(args.slots), "--cache-mb",
         str(args.cache_mb), "--max-pixels", str(args.pixels), "--max-body-mb", str(len(body) // MIB + 1)])
    failed = False
    try:
        # Warm up (the first runs allocate the runtime's pools), then a small image alone: E.
        with open("tests/data/images/progressive.jpg", "rb") as f:
            small = f.read()
        for data in (body, body, small):
            status, answer = upload(port, data)
            if status != 200:
                sys.exit(f"upload_memory: warm-up upload answered {status}: {answer[:300]!r}")
        rss0 = status_kib(server.pid, "VmRSS") * 1024
        reset_peak(server.pid)
        status, answer = upload(port, small)
        encoder = max(0, status_kib(server.pid, "VmHWM") * 1024 - rss0)

        idle = status_kib(server.pid, "VmRSS") * 1024
        reset_peak(server.pid)
        results = [None] * args.uploads
        started = time.monotonic()

        def one(i):
            try:
                results[i] = upload(port, body)[0]
            except (OSError, http.client.HTTPException) as e:
                results[i] = f"{type(e).__name__}: {e}"

        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.uploads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        peak = status_kib(server.pid, "VmHWM") * 1024
        bad = [r for r in results if r != 200]
        cache = args.cache_mb * MIB
        bound = cache + args.http_threads * len(body) + args.slots * (11 * pixels + encoder) + args.slack_mb * MIB
        print(f"upload_memory: {args.uploads} concurrent uploads of a {width}x{height} PNG ({len(body) / MIB:.1f} MiB) "
              f"in {wall:.1f} s; cache {args.cache_mb} MiB, {args.http_threads} request threads, {args.slots} slots")
        print(f"upload_memory: idle RSS {idle / MIB:.0f} MiB; encoder working set E = {encoder / MIB:.1f} MiB "
              f"(the peak rise of a 64x48 upload)")
        print(f"upload_memory: peak rise {(peak - idle) / MIB:.0f} MiB, bound {bound / MIB:.0f} MiB "
              f"= C {cache / MIB:.0f} + H x B {args.http_threads * len(body) / MIB:.0f} "
              f"+ S x (11P + E) {args.slots * (11 * pixels + encoder) / MIB:.0f} + M {args.slack_mb}")
        if bad:
            print(f"upload_memory: {len(bad)} uploads failed; first: {bad[0]}", file=sys.stderr)
            failed = True
        if peak - idle > bound:
            print("upload_memory: the peak exceeds the bound", file=sys.stderr)
            failed = True
    finally:
        code = tiny_server.stop(server)
    if code != 0:
        print(f"upload_memory: the server's exit on SIGTERM: {code}", file=sys.stderr)
        failed = True
    print("upload_memory: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
