#!/usr/bin/python3
"""The reference's side of the SAM 2 benchmark: transformers' Sam2Model / Sam2VideoModel
(torch 1.13 on the CPU, eager attention, random weights) timed on the stages sam3rt_bench
times for a sam2 / sam2_video checkpoint:

  tracker_embed   Sam2Model.get_image_embeddings: Hiera + FPN neck + conv_s0/s1 (1 x 3 x S x S)
  tracker_prompt  Sam2Model.forward(image_embeddings=..., one point, multimask_output=True)
  video_<k>obj    Sam2VideoModel through Sam2VideoProcessor's inference session: k boxes on
                  frame 0 in a row across the middle of 1280 x 720 frames, then
                  propagate_in_video_iterator; time between consecutive frames' outputs
                  (after 3 warm-up frames), as sam3rt_bench's video stage

The config is a config.json (e.g. tests/data/sam2-full-manifest/sam2.1-hiera-tiny.sam2_video_config.json);
weights are transformers' own initialisation (timing does not depend on the values).
Writes JSON in the layout bench/compare.py reads ({"stages": [{"stage", "median_s", ...}]}).

    /usr/bin/python3 bench/reference_sam2.py --config CONFIG --transformers-src DIR \\
        [--stages tracker_embed,tracker_prompt,video] [--objects 1,5] [--frames 10] [--threads 2] --out-json R.json
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "refgen"))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def stage_result(name, times, note, warmup=None):
    return {"stage": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "reps": len(times), "warmup_s": warmup or [], "peak_rss_mib": peak_rss_mib(),
            "attn_implementation": "eager", "note": note}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="a sam2_video config.json")
    ap.add_argument("--transformers-src", default=os.environ.get("SAM2_TRANSFORMERS_SRC"))
    ap.add_argument("--stages", default="tracker_embed,tracker_prompt,video")
    ap.add_argument("--objects", default="1,5", help="objects per video run")
    ap.add_argument("--frames", type=int, default=10, help="video frames per run (3 of them warm-up)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions of tracker_embed (tracker_prompt: x10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-json", required=True)
    a = ap.parse_args()
    if not a.transformers_src:
        ap.error("give --transformers-src or set SAM2_TRANSFORMERS_SRC")

    import refshim

    refshim.install(a.transformers_src)
    import numpy as np
    import torch
    import transformers as tf

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.config) as f:
        cfg_dict = json.load(f)
    for k in ("model_type", "transformers_version", "architectures", "dtype", "torch_dtype"):
        cfg_dict.pop(k, None)
    vcfg = tf.Sam2VideoConfig(**cfg_dict, attn_implementation="eager")
    S = vcfg.image_size
    stages = a.stages.split(",")
    results = {"what": "transformers Sam2Model / Sam2VideoModel (eager, CPU, torch %s), transformers' own init"
               % torch.__version__, "config": os.path.abspath(a.config), "threads": a.threads,
               "image_size": S, "stages": []}

    if "tracker_embed" in stages or "tracker_prompt" in stages:
        icfg = tf.Sam2Config(vision_config=vcfg.vision_config.to_dict(),
                             prompt_encoder_config=vcfg.prompt_encoder_config.to_dict(),
                             mask_decoder_config=vcfg.mask_decoder_config.to_dict(), attn_implementation="eager")
        model = tf.Sam2Model(icfg).eval()
        pixels = torch.rand(1, 3, S, S) * 2 - 1
        with torch.no_grad():
            model.get_image_embeddings(pixels)  # warm-up
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                emb = model.get_image_embeddings(pixels)
                times.append(time.perf_counter() - t0)
        if "tracker_embed" in stages:
            results["stages"].append(stage_result("tracker_embed", times,
                                                  "get_image_embeddings: Hiera + neck + conv_s0/s1 + no_memory_embedding"))
            print(f"[reference_sam2] tracker_embed median {statistics.median(times):.3f} s", flush=True)
        if "tracker_prompt" in stages:
            pts = torch.tensor([[[[0.5 * S, 0.38 * S]]]])
            lbl = torch.tensor([[[1]]])
            with torch.no_grad():
                model(image_embeddings=emb, input_points=pts, input_labels=lbl, multimask_output=True)
                times = []
                for _ in range(a.reps * 10):
                    t0 = time.perf_counter()
                    model(image_embeddings=emb, input_points=pts, input_labels=lbl, multimask_output=True)
                    times.append(time.perf_counter() - t0)
            results["stages"].append(stage_result("tracker_prompt", times, "prompt encoder + mask decoder, 1 point, 3 masks"))
            print(f"[reference_sam2] tracker_prompt median {statistics.median(times):.4f} s", flush=True)
        del model

    if "video" in stages:
        model = tf.Sam2VideoModel(vcfg).eval()
        proc = tf.Sam2VideoProcessor(image_processor=tf.Sam2ImageProcessorFast(size={"height": S, "width": S}),
                                     video_processor=tf.Sam2VideoVideoProcessor(size={"height": S, "width": S}))
        rng = np.random.default_rng(0)
        H, W = 720, 1280
        frames = [rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8) for _ in range(a.frames)]
        for k in [int(x) for x in a.objects.split(",")]:
            sess = proc.init_video_session(video=frames, inference_device="cpu")
            boxes = []
            for o in range(k):
                x0 = W * (0.05 + 0.9 * o / k)
                boxes.append([x0, H * 0.35, x0 + W * 0.8 / k, H * 0.65])
            stamps = []
            with torch.no_grad():
                proc.add_inputs_to_inference_session(sess, frame_idx=0, obj_ids=list(range(1, k + 1)),
                                                     input_boxes=[boxes])
                t_start = time.perf_counter()
                for _ in model.propagate_in_video_iterator(sess, start_frame_idx=0):
                    stamps.append(time.perf_counter())
            gaps = [stamps[i] - stamps[i - 1] for i in range(1, len(stamps))]
            warm, timed = gaps[:3], gaps[3:]
            name = f"video_{k}obj"
            results["stages"].append(stage_result(name, timed, f"{k} box(es) on frame 0, {a.frames} frames of {W}x{H}; "
                                                  "time between consecutive frames' outputs", warm))
            print(f"[reference_sam2] {name}: median {statistics.median(timed):.3f} s per frame "
                  f"(first frame {stamps[0] - t_start:.2f} s)", flush=True)
        del model

    with open(a.out_json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"[reference_sam2] wrote {a.out_json}", flush=True)


if __name__ == "__main__":
    main()
