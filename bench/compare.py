#!/usr/bin/python3
"""sam3rt vs reference: reads the JSON of sam3rt_bench and of bench_reference.py (same
run, same machine) and prints, per stage, both medians and the ratio sam3rt/reference,
against the reference's default run and, where bench_reference.py --malloc-diagnostic
ran, its malloc-tuned run; then the goals of issue #6. Writes the table as markdown and
JSON too. Standard library only.

    bench/compare.py --sam3rt sam3rt.json --reference reference.json --out-md cmp.md --out-json cmp.json
"""

import argparse
import json
import sys

STAGES = ["vision", "text", "detector_text", "detector_text_2boxes", "e2e", "tracker_embed", "tracker_prompt"]


def med(r):
    return r.get("median_s") if r else None


def fmt(x, p=3):
    return "-" if x is None else f"{x:.{p}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam3rt", required=True)
    ap.add_argument("--reference")
    ap.add_argument("--out-md")
    ap.add_argument("--out-json")
    a = ap.parse_args()
    with open(a.sam3rt) as f:
        ours = json.load(f)
    ref = {"stages": []}
    if a.reference:
        with open(a.reference) as f:
            ref = json.load(f)

    o = {r["stage"]: r for r in ours.get("stages", []) if "median_s" in r}
    rd = {r["stage"]: r for r in ref.get("stages", [])
          if "median_s" in r and not r.get("diagnostic_env") and r.get("attn_implementation", "eager") == "eager"}
    rt = {r["stage"]: r for r in ref.get("stages", []) if "median_s" in r and r.get("diagnostic_env")}

    rows = []
    for s in STAGES:
        if s not in o and s not in rd:
            continue
        mo, mr, mt = med(o.get(s)), med(rd.get(s)), med(rt.get(s))
        rows.append({
            "stage": s,
            "sam3rt_median_s": mo, "sam3rt_min_s": o.get(s, {}).get("min_s"), "sam3rt_max_s": o.get(s, {}).get("max_s"),
            "sam3rt_reps": o.get(s, {}).get("reps"),
            "reference_median_s": mr, "reference_reps": rd.get(s, {}).get("reps"),
            "ratio": mo / mr if mo and mr else None,
            "reference_malloc_tuned_median_s": mt,
            "ratio_malloc_tuned": mo / mt if mo and mt else None,
            "sam3rt_peak_rss_mib": o.get(s, {}).get("peak_rss_mib"),
            "reference_peak_rss_mib": rd.get(s, {}).get("peak_rss_mib"),
        })

    gemm_ours = ours.get("gemm_best_gflops")
    gemm_ref = None
    if ref.get("gemm"):
        gemm_ref = max(x["gflops_best"] for x in ref["gemm"].values())
    gemm = max([g for g in (gemm_ours, gemm_ref) if g] or [0]) or None

    L = []
    L.append("| stage | sam3rt median s (min-max, reps) | reference median s (reps) | sam3rt / reference | "
             "reference malloc-tuned s | sam3rt / tuned | sam3rt peak RSS MiB | reference peak RSS MiB |")
    L.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        L.append(f"| {r['stage']} | {fmt(r['sam3rt_median_s'])} ({fmt(r['sam3rt_min_s'])}-{fmt(r['sam3rt_max_s'])}, "
                 f"{r['sam3rt_reps'] or '-'}) | {fmt(r['reference_median_s'])} ({r['reference_reps'] or '-'}) | "
                 f"{fmt(r['ratio'], 2)} | {fmt(r['reference_malloc_tuned_median_s'])} | {fmt(r['ratio_malloc_tuned'], 2)} | "
                 f"{fmt(r['sam3rt_peak_rss_mib'], 0)} | {fmt(r['reference_peak_rss_mib'], 0)} |")
    L.append("")
    L.append(f"fp32 GEMM best, this run: sam3rt_bench (best of at::mm 4096x1024x4096, 2048^3 and sam3rt's own GEMM) {fmt(gemm_ours, 1)} GFLOP/s; "
             f"bench_reference.py (torch.mm) {fmt(gemm_ref, 1)} GFLOP/s")

    goals = []
    vis = o.get("vision")
    if vis and vis.get("breakdown_median_s", {}).get("vit") and gemm:
        vit_s = vis["breakdown_median_s"]["vit"]
        rate = ours["vit_flop"] / vit_s / 1e9
        goals.append(("ViT >= 70% of the measured GEMM rate", f"{ours['vit_flop'] / 1e12:.2f} TFLOP in {vit_s:.2f} s = "
                      f"{rate:.0f} GFLOP/s = {100 * rate / gemm:.0f}% of {gemm:.0f}", rate >= 0.7 * gemm))
    ref_vit = rd.get("vision", {}).get("breakdown_median_s", {}).get("vision_encoder.backbone")
    if vis and ref_vit:
        goals.append(("ViT vs reference ViT", f"{vis['breakdown_median_s']['vit']:.2f} s / {ref_vit:.2f} s = "
                      f"{vis['breakdown_median_s']['vit'] / ref_vit:.2f}", None))
    byname = {r["stage"]: r for r in rows}
    d = byname.get("detector_text")
    if d and d["ratio"] is not None:
        goals.append(("detector per text prompt <= 0.25x reference", f"{d['ratio']:.2f}", d["ratio"] <= 0.25))
    if d and d["ratio_malloc_tuned"] is not None:
        goals.append(("detector per text prompt <= 0.5x malloc-tuned reference", f"{d['ratio_malloc_tuned']:.2f}",
                      d["ratio_malloc_tuned"] <= 0.5))
    v = byname.get("vision")
    if v and v["ratio"] is not None:
        goals.append(("vision <= ~0.5x reference", f"{v['ratio']:.2f}", v["ratio"] <= 0.5))
    if v and v["ratio_malloc_tuned"] is not None:
        goals.append(("vision <= ~0.8x malloc-tuned reference", f"{v['ratio_malloc_tuned']:.2f}",
                      v["ratio_malloc_tuned"] <= 0.8))
    e = byname.get("e2e")
    if e and e["ratio"] is not None:
        goals.append(("end-to-end text prompt <= 0.45x reference", f"{e['ratio']:.2f}", e["ratio"] <= 0.45))
    ref_peak = max([r.get("peak_rss_mib", 0) for r in rd.values()] or [0])
    if ref_peak and ours.get("peak_rss_mib"):
        goals.append(("peak RSS below the reference's",
                      f"sam3rt {ours['peak_rss_mib']:.0f} MiB (one process, every stage) vs reference "
                      f"{ref_peak:.0f} MiB (largest single-stage process)", ours["peak_rss_mib"] < ref_peak))
    if goals:
        L.append("")
        L.append("| goal (issue #6) | measured | met |")
        L.append("|---|---|---|")
        for g, m, ok in goals:
            L.append(f"| {g} | {m} | {'-' if ok is None else ('yes' if ok else 'NO')} |")
    L.append("")
    L.append(f"load average: sam3rt start {ours.get('load_average_start')}, end {ours.get('load_average_end')}")
    text = "\n".join(L) + "\n"
    sys.stdout.write(text)
    if a.out_md:
        with open(a.out_md, "w") as f:
            f.write("# sam3rt vs reference (one run)\n\n" + text)
    if a.out_json:
        with open(a.out_json, "w") as f:
            json.dump({"rows": rows, "gemm_sam3rt_gflops": gemm_ours, "gemm_reference_gflops": gemm_ref,
                       "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals]}, f, indent=1)


if __name__ == "__main__":
    main()
