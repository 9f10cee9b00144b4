#!/usr/bin/env python3
"""Soak test of `sam3rt serve`: mixed load for a while, the server's RSS sampled throughout.

Starts the server on a free loopback port with a tiny random-weight checkpoint
(tests/server/tiny_config.json) and runs WORKERS client threads for the whole duration,
each repeating one cycle: upload an image (four test images in turn), segment it by text,
by a box and by a click, read /v1/health, delete the image. Every answer must be a 200.
Every SAMPLE seconds the server's VmRSS is read from /proc; at the end the least-squares
slope of RSS over time is reported for the samples after the warm-up (the first
WARMUP_FRACTION of the run), in MiB per minute, and the samples are written to
OUT/rss.csv.

    scripts/soak.py --minutes 30                      # the documented soak (docs/reliability.md)
    scripts/soak.py --seconds 40 --sample 1 --max-slope 12 --max-growth 24   # CI's short one

Fails (exit 1) on any answer other than 200, a connection error, a server that does not
exit 0 on SIGTERM, a slope above --max-slope or a growth of the last sample over the
first after warm-up above --max-growth (MiB), when those are given. Python's standard
library only. Expects a built tree (scripts/build.sh).
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

import tiny_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = [  # (file, content type)
    ("tests/data/images/oven.jpg", "image/jpeg"),
    ("tests/data/images/progressive.jpg", "image/jpeg"),
    ("tests/data/images/rgba.png", "image/png"),
    ("tests/data/images/palette.png", "image/png"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.environ.get("BUILD_DIR", "build"), help="build directory (default build)")
    p.add_argument("--out", default=None, help="working directory (default BUILD/soak)")
    duration = p.add_mutually_exclusive_group()
    duration.add_argument("--minutes", type=float, help="duration in minutes")
    duration.add_argument("--seconds", type=float, help="duration in seconds (default 1800)")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    p.add_argument("--workers", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--warmup-fraction", type=float, default=0.2, help="share of the run left out of the slope")
    p.add_argument("--max-slope", type=float, default=None, help="fail above this slope, MiB per minute")
    p.add_argument("--max-growth", type=float, default=None, help="fail above this growth after warm-up, MiB")
    args = p.parse_args()
    args.duration = args.minutes * 60 if args.minutes is not None else (args.seconds if args.seconds is not None else 1800.0)
    if args.duration <= 0 or args.sample <= 0 or args.workers <= 0 or not 0 <= args.warmup_fraction < 1:
        p.error("duration, sample and workers must be positive and the warm-up fraction in [0, 1)")
    return args


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def slope_per_minute(samples):
    """Least-squares slope of (seconds, KiB) samples, in MiB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_r = sum(r for _, r in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (r - mean_r) for t, r in samples)
    return cov / var * 60.0 / 1024.0


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.failures = []

    def record(self, op, status, body):
        with self.lock:
            if status == 200:
                self.ok[op] = self.ok.get(op, 0) + 1
            else:
                self.failures.append(f"{op}: {status} {body[:200]!r}")


def worker(index, port, stop, tally, images):
    conn = None
    cycle = index
    while not stop.is_set():
        path, ctype, data = images[cycle % len(images)]
        cycle += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

            def call(op, method, url, body=None, headers=None):
                conn.request(method, url, body=body, headers=headers or {})
                r = conn.getresponse()
                payload = r.read()
                tally.record(op, r.status, payload)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()  # the server ends keep-alive after a number of requests
                return r.status, payload

            status, payload = call("upload", "POST", "/v1/images", data, {"Content-Type": ctype})
            if status != 200:
                continue
            info = json.loads(payload)
            image_id, w, h = info["id"], info["width"], info["height"]
            seg = f"/v1/images/{image_id}/segment"
            js = {"Content-Type": "application/json"}
            call("segment_text", "POST", seg, json.dumps({"text": "oven", "threshold": 0.3}), js)
            box = {"x1": w * 0.1, "y1": h * 0.1, "x2": w * 0.8, "y2": h * 0.9}
            call("segment_box", "POST", seg, json.dumps({"mode": "object", "boxes": [box]}), js)
            click = {"points": [{"x": w * 0.5, "y": h * 0.5, "label": 1}], "png": True}
            call("segment_click", "POST", seg, json.dumps(click), js)
            call("health", "GET", "/v1/health")
            call("delete", "DELETE", f"/v1/images/{image_id}")
        except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
            with tally.lock:
                tally.failures.append(f"worker {index}: {type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.1)
    if conn is not None:
        conn.close()


def main():
    args = parse_args()
    os.chdir(ROOT)
    out = args.out or os.path.join(args.build, "soak")
    server, port = tiny_server.start(args.build, out, "soak",
                                     ["--threads", "1", "--inference-slots", "2", "--cache-mb", "64"])
    images = []
    for path, ctype in IMAGES:
        with open(path, "rb") as f:
            images.append((path, ctype, f.read()))

    tally = Tally()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(i, port, stop, tally, images)) for i in range(args.workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    print(f"soak: {args.workers} workers for {args.duration:.0f} s against 127.0.0.1:{port} "
          f"(server pid {server.pid}), RSS every {args.sample:g} s", flush=True)
    next_sample = started
    while True:
        now = time.monotonic()
        if now >= next_sample:
            samples.append((now - started, rss_kib(server.pid)))
            next_sample += args.sample
        if now - started >= args.duration or server.poll() is not None:
            break
        time.sleep(min(0.2, max(0.0, next_sample - time.monotonic())))
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    alive = server.poll() is None
    code = tiny_server.stop(server) if alive else server.returncode

    with open(os.path.join(out, "rss.csv"), "w") as f:
        f.write("seconds,rss_kib\n")
        for t, r in samples:
            f.write(f"{t:.1f},{r}\n")
    after = [s for s in samples if s[0] >= args.warmup_fraction * args.duration]
    slope = slope_per_minute(after)
    growth = (after[-1][1] - after[0][1]) / 1024.0 if after else 0.0
    requests = sum(tally.ok.values())
    mib = lambda kib: kib / 1024.0
    rss = [r for _, r in samples]
    print(f"soak: {requests} answers in {elapsed:.0f} s ({requests / elapsed:.1f}/s): "
          + ", ".join(f"{k} {v}" for k, v in sorted(tally.ok.items())))
    print(f"soak: RSS MiB: first {mib(rss[0]):.1f}, min {mib(min(rss)):.1f}, max {mib(max(rss)):.1f}, "
          f"last {mib(rss[-1]):.1f}; after warm-up ({len(after)} samples from {after[0][0]:.0f} s): "
          f"slope {slope:+.3f} MiB/min, growth {growth:+.1f} MiB")
    failed = False
    if tally.failures:
        print(f"soak: {len(tally.failures)} failed requests; first: {tally.failures[0]}", file=sys.stderr)
        failed = True
    if not alive:
        print(f"soak: the server died during the run (exit {code}; see {out}/serve.log)", file=sys.stderr)
        failed = True
    elif code != 0:
        print(f"soak: the server's exit on SIGTERM: {code}", file=sys.stderr)
        failed = True
    if args.max_slope is not None and slope > args.max_slope:
        print(f"soak: RSS slope {slope:.3f} MiB/min above {args.max_slope}", file=sys.stderr)
        failed = True
    if args.max_growth is not None and growth > args.max_growth:
        print(f"soak: RSS grew {growth:.1f} MiB after warm-up, above {args.max_growth}", file=sys.stderr)
        failed = True
    if requests == 0:
        print("soak: no request was answered", file=sys.stderr)
        failed = True
    print("soak: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
