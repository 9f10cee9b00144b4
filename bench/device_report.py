#!/usr/bin/env python3
"""One table from a device run's JSON files (scripts/device.sh run): sam3rt_bench's and
bench/reference_gpu.py's medians per stage and precision, the ratio sam3rt / transformers,
peak GPU memory, and the goals of issue #11. Standard library only.

    bench/device_report.py JSON_DIR     # sam3rt_{fp32,bf16}.json, reference_{fp32,bf16}.json
"""

import json
import os
import sys

STAGES = ["vision", "text", "detector_text", "e2e", "image_pipeline", "tracker_prompt", "video_1obj", "video_10obj"]


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def by_stage(doc):
    return {r["stage"]: r for r in (doc or {}).get("stages", []) if "median_s" in r}


def ms(x):
    return "-" if x is None else f"{x * 1e3:.2f}"


def main():
    d = sys.argv[1]
    print()
    print("| stage | precision | sam3rt median ms (min-max) | transformers median ms | sam3rt / transformers | "
          "sam3rt peak GPU MiB | transformers peak GPU MiB |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for p in ("bf16", "fp32"):
        ours, ref = by_stage(load(d, f"sam3rt_{p}.json")), by_stage(load(d, f"reference_{p}.json"))
        for s in STAGES:
            o, r = ours.get(s), ref.get(s)
            if not o and not r:
                continue
            mo, mr = (o or {}).get("median_s"), (r or {}).get("median_s")
            results[(s, p)] = (mo, mr)
            span = f" ({ms(o['min_s'])}-{ms(o['max_s'])})" if o else ""
            ratio = f"{mo / mr:.2f}" if mo and mr else "-"
            po = (o or {}).get("peak_device_mib")
            pr = (r or {}).get("peak_device_mib")
            print(f"| {s} | {p} | {ms(mo)}{span} | {ms(mr)} | {ratio} | "
                  f"{'-' if po is None else f'{po:.0f}'} | {'-' if pr is None else f'{pr:.0f}'} |")
    for p in ("bf16", "fp32"):
        doc = load(d, f"sam3rt_{p}.json") or {}
        for k, v in (doc.get("gemm") or {}).items():
            print(f"\n{p} GEMM {k}: best {v['gflops_best'] / 1e3:.1f} TFLOP/s", end="")
        ref = load(d, f"reference_{p}.json") or {}
        if ref.get("errors"):
            print(f"\n\ntransformers {p} errors: {ref['errors']}", end="")
        if ref.get("models"):
            print(f"\n\ntransformers {p} models: " + "; ".join(
                f"{k}: {v.get('class')} missing {v.get('missing_keys')} attn {v.get('attn_implementation')}"
                for k, v in ref["models"].items()), end="")
    print("\n\nGoals (issue #11):")
    pipe = results.get(("image_pipeline", "bf16"), (None, None))[0]
    print(f"- whole image pipeline, bf16: {ms(pipe)} ms (goal <= 12 ms)")
    for n, goal in (("video_1obj", 32), ("video_10obj", 16)):
        v = results.get((n, "bf16"), (None, None))[0]
        print(f"- {n}, bf16: {'-' if not v else f'{1 / v:.1f}'} frames/s (goal >= {goal})")
    slower = [f"{s} {p}" for (s, p), (mo, mr) in results.items() if mo and mr and mo > mr]
    print(f"- stages slower than transformers: {', '.join(slower) if slower else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
