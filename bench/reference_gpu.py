#!/usr/bin/env python3
"""The reference next to sam3rt on a GPU: transformers' SAM 3 (Sam3Model,
Sam3TrackerModel, Sam3TrackerVideoModel) timed on the stages sam3rt_bench times, on the
same checkpoint (a sam3_video folder: config.json + model.safetensors, e.g. one written
by `sam3rt make-random-checkpoint`) and the same kind of inputs, in fp32 or bf16.

    bench/reference_gpu.py --model DIR [--precision fp32|bf16] [--stages LIST] [--reps N]
                           [--image IMG] [--text T] [--video FRAME_DIR] [--video-objects 1,10]
                           [--json OUT.json]

Stages (CUDA-synchronised, warm-up then --reps timed runs, median/min/max, peak memory
allocated by torch in the stage):
  vision          Sam3Model.get_vision_features (ViT + FPN neck)
  text            Sam3Model.get_text_features (32 tokens)
  detector_text   Sam3Model.forward(vision_embeds, text_embeds) (transformers' text-only
                  path: no geometry encoder, unlike sam3rt's default Meta path)
  e2e             Sam3Model.forward(pixel_values, input_ids, attention_mask)
  image_pipeline  decoded image (uint8) -> Sam3ImageProcessorFast on the GPU -> Sam3Model
                  -> post_process_instance_segmentation at the image's size (threshold 0.5;
                  token ids are fixed, as no tokenizer files come with the checkpoint)
  tracker_prompt  Sam3TrackerModel.forward(image_embeddings, one point, 3 masks)
  video           Sam3TrackerVideoModel.propagate_in_video_iterator with N objects (boxes
                  on frame 0) over frames held in memory, masks post-processed to the
                  frame's size; time between consecutive frames, after 3 frames of warm-up
float32 runs with TF32 off (as sam3rt's fp32 on CUDA); bf16 is the model cast with
.to(torch.bfloat16), the way transformers' documentation runs it. Each stage that fails
records its error and the others go on.
"""

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np
import torch

CTX = 32
CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat" in CLIP ids


def load_state(path):
    from safetensors.torch import load_file

    return load_file(path)


def remap(state, family):
    """Checkpoint (sam3_video layout) keys -> the module's own names."""
    out = {}
    for k, v in state.items():
        if family == "detector":
            if k.startswith("detector_model."):
                out[k[len("detector_model."):]] = v
        else:  # tracker / tracker_video
            if k.startswith("tracker_model."):
                out[k[len("tracker_model."):]] = v
            elif k.startswith("detector_model.vision_encoder.backbone."):
                out["vision_encoder.backbone." + k[len("detector_model.vision_encoder.backbone."):]] = v
            elif k.startswith("tracker_neck."):
                out["vision_encoder.neck." + k[len("tracker_neck."):]] = v
    return out


def build(tf, kind, cfg, state, device, dtype, info):
    t0 = time.perf_counter()
    sub = {k: v for k, v in cfg["detector_config" if kind == "detector" else "tracker_config"].items()
           if k not in ("model_type", "transformers_version")}
    with torch.device(device):  # built (and randomly initialised) on the GPU: seconds, not a minute
        if kind == "detector":
            model = tf.Sam3Model(tf.Sam3Config(**sub))
            sd = remap(state, "detector")
        elif kind == "tracker":
            model = tf.Sam3TrackerModel(tf.Sam3TrackerConfig(**sub))
            sd = remap(state, "tracker")
        else:
            model = tf.Sam3TrackerVideoModel(tf.Sam3TrackerVideoConfig(**sub))
            sd = remap(state, "tracker")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    own = set(model.state_dict().keys())
    unexpected = [k for k in unexpected if k in own]  # keys of other parts are expected leftovers
    model = model.eval().to(device=device, dtype=dtype)
    info[kind] = {"class": type(model).__name__, "missing_keys": len(missing), "missing_first": list(missing)[:8],
                  "unexpected_keys": len(unexpected),
                  "attn_implementation": getattr(model.config, "_attn_implementation", None),
                  "parameters": sum(p.numel() for p in model.parameters()), "build_s": time.perf_counter() - t0}
    return model


def timed(fn, warmup, reps, sync):
    warm = []
    for _ in range(warmup):
        t = time.perf_counter()
        fn()
        sync()
        warm.append(time.perf_counter() - t)
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return {"warmup_s": warm, "times_s": times, "reps": len(times), "median_s": statistics.median(times),
            "min_s": min(times), "max_s": max(times),
            "peak_device_mib": torch.cuda.max_memory_allocated() / 2**20}


def make_checkpoint(manifest_path, config_path, out_dir):
    """A random checkpoint from a manifest (every key, shape, dtype), for when sam3rt's own
    make-random-checkpoint is not at hand: >= 2-D tensors N(0, 1/fan_in), 1-D weights and
    scales 1 + N(0, 0.1), other 1-D N(0, 0.02), as sam3rt's tool draws them."""
    import shutil

    from safetensors.torch import save_file

    man = json.load(open(manifest_path))
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for e in man["tensors"]:
        name, shape = e["name"], e["shape"]
        x = torch.randn(shape, generator=g)
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            if name.endswith("positional_embedding"):
                pass
            elif shape[0] == 1 or name.endswith("embedding.weight") or name.endswith("position_embeddings"):
                x *= 0.2
            else:
                x /= fan_in ** 0.5
        elif name.endswith(".weight") or name.endswith(".scale"):
            x = x * 0.1 + 1.0
        else:
            x *= 0.02
        tensors[name] = x.contiguous()
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(config_path, os.path.join(out_dir, "config.json"))
    print(f"wrote {len(tensors)} tensors to {out_dir}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--make-checkpoint", metavar="MANIFEST", help="write a random checkpoint to --model and exit")
    ap.add_argument("--config", help="with --make-checkpoint: the config.json to copy")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--stages", default="vision,text,detector_text,e2e,image_pipeline,tracker_prompt,video")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--image")
    ap.add_argument("--text", default="person")
    ap.add_argument("--video")
    ap.add_argument("--video-objects", default="1,10")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.make_checkpoint:
        make_checkpoint(a.make_checkpoint, a.config, a.model)
        return 0

    import transformers as tf

    device = torch.device(a.device)
    dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    sync = torch.cuda.synchronize
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    state = load_state(os.path.join(a.model, "model.safetensors"))
    info = {}
    res = {"what": "transformers' SAM 3 on the GPU, same checkpoint as sam3rt_bench", "precision": a.precision,
           "torch_version": torch.__version__, "transformers_version": tf.__version__,
           "gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda, "models": info, "stages": [],
           "errors": {}}
    stages = [s for s in a.stages.split(",") if s]
    S = cfg["detector_config"]["vision_config"]["backbone_config"].get("image_size", 1008)
    g = torch.Generator().manual_seed(2)
    pv = (torch.rand(1, 3, S, S, generator=g) * 2 - 1).to(device, dtype)
    ids = torch.zeros(1, CTX, dtype=torch.long)
    ids[0, :len(CAT_IDS)] = torch.tensor(CAT_IDS)
    ids = ids.to(device)
    am = (ids != 0).long()
    if a.image:
        from PIL import Image

        rgb = np.asarray(Image.open(a.image).convert("RGB"))
    else:
        rgb = (torch.rand(S, S, 3, generator=g) * 255).to(torch.uint8).numpy()
    det = trk = vid = None

    def add(name, note, r):
        r.update({"stage": name, "note": note})
        res["stages"].append(r)
        print(f"[reference_gpu] {a.precision} {name}: median {r['median_s'] * 1e3:.2f} ms "
              f"(min {r['min_s'] * 1e3:.2f}, max {r['max_s'] * 1e3:.2f}), peak {r['peak_device_mib']:.0f} MiB",
              flush=True)

    with torch.inference_mode():
        for stage in stages:
            try:
                if stage in ("vision", "text", "detector_text", "e2e", "image_pipeline") and det is None:
                    det = build(tf, "detector", cfg, state, device, dtype, info)
                if stage == "vision":
                    add(stage, "get_vision_features", timed(lambda: det.get_vision_features(pixel_values=pv),
                                                            a.warmup, a.reps, sync))
                elif stage == "text":
                    add(stage, "get_text_features, 32 tokens",
                        timed(lambda: det.get_text_features(input_ids=ids, attention_mask=am), a.warmup, a.reps, sync))
                elif stage == "detector_text":
                    ve = det.get_vision_features(pixel_values=pv)
                    te = det.get_text_features(input_ids=ids, attention_mask=am)
                    add(stage, "forward(vision_embeds, text_embeds): text-only path",
                        timed(lambda: det(vision_embeds=ve, text_embeds=te, attention_mask=am), a.warmup, a.reps,
                              sync))
                elif stage == "e2e":
                    add(stage, "forward(pixel_values, input_ids)",
                        timed(lambda: det(pixel_values=pv, input_ids=ids, attention_mask=am), a.warmup, a.reps, sync))
                elif stage == "image_pipeline":
                    ip = tf.Sam3ImageProcessorFast(size={"height": S, "width": S})
                    img = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)  # [3, H, W] uint8, host
                    h, w = rgb.shape[:2]

                    def pipeline():
                        x = ip(images=img.to(device), return_tensors="pt", device=device)["pixel_values"]
                        out = det(pixel_values=x.to(device, dtype), input_ids=ids, attention_mask=am)
                        return ip.post_process_instance_segmentation(out, threshold=0.5, mask_threshold=0.5,
                                                                     target_sizes=[(h, w)])

                    add(stage, f"uint8 {w}x{h} image -> processor on GPU -> model -> instances at image size",
                        timed(pipeline, a.warmup, a.reps, sync))
                elif stage == "tracker_prompt":
                    if trk is None:
                        trk = build(tf, "tracker", cfg, state, device, dtype, info)
                    emb = trk.get_image_embeddings(pv)
                    pts = torch.tensor([[[[500.0, 380.0]]]], device=device, dtype=dtype)
                    lab = torch.tensor([[[1]]], device=device)
                    add(stage, "forward(image_embeddings, one point, multimask)",
                        timed(lambda: trk(image_embeddings=emb, input_points=pts, input_labels=lab,
                                          multimask_output=True), a.warmup, a.reps, sync))
                elif stage == "video":
                    if vid is None:
                        vid = build(tf, "tracker_video", cfg, state, device, dtype, info)
                    frames = load_frames(a.video, max(a.reps, 20) + 4)
                    vp = tf.Sam2VideoVideoProcessor(image_mean=[0.5] * 3, image_std=[0.5] * 3,
                                                    size={"height": S, "width": S})
                    proc = tf.Sam3TrackerVideoProcessor(
                        image_processor=tf.Sam2ImageProcessorFast(image_mean=[0.5] * 3, image_std=[0.5] * 3,
                                                                  size={"height": S, "width": S}),
                        video_processor=vp)
                    fh, fw = frames[0].shape[:2]
                    for n in [int(x) for x in a.video_objects.split(",") if x]:
                        sess = proc.init_video_session(video=frames, inference_device=device, dtype=dtype)
                        boxes = []
                        for o in range(n):
                            x0 = fw * (0.05 + 0.9 * o / n)
                            boxes.append([x0, fh * 0.35, x0 + fw * 0.8 / n, fh * 0.65])
                        proc.add_inputs_to_inference_session(sess, frame_idx=0, obj_ids=list(range(1, n + 1)),
                                                             input_boxes=[boxes])
                        torch.cuda.reset_peak_memory_stats()
                        stamps = []
                        for out in vid.propagate_in_video_iterator(sess, start_frame_idx=0):
                            proc.post_process_masks([out.pred_masks], original_sizes=[[fh, fw]], binarize=True)
                            sync()
                            stamps.append(time.perf_counter())
                        d = [stamps[i] - stamps[i - 1] for i in range(1, len(stamps))]
                        r = {"warmup_s": d[:3], "times_s": d[3:], "reps": len(d) - 3,
                             "median_s": statistics.median(d[3:]), "min_s": min(d[3:]), "max_s": max(d[3:]),
                             "peak_device_mib": torch.cuda.max_memory_allocated() / 2**20}
                        add(f"video_{n}obj", f"{n} object(s), boxes on frame 0, {len(frames)} frames of {fw}x{fh}, "
                            "processed frames on the GPU, masks post-processed to the frame size", r)
                        del sess
                else:
                    raise ValueError(f"unknown stage {stage}")
            except Exception as e:  # noqa: BLE001 - one stage's failure must not lose the others
                res["errors"][stage] = f"{type(e).__name__}: {e}"
                print(f"[reference_gpu] {stage} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                traceback.print_exc()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def load_frames(folder, n):
    """n frames (uint8 HWC numpy): the folder's images in name order, repeated; or random 1280x720."""
    if folder:
        from PIL import Image

        names = sorted(x for x in os.listdir(folder) if x.lower().endswith((".jpg", ".jpeg", ".png")))[:32]
        imgs = [np.asarray(Image.open(os.path.join(folder, x)).convert("RGB")) for x in names]
        return [imgs[i % len(imgs)] for i in range(n)]
    g = torch.Generator().manual_seed(5)
    return [(torch.rand(720, 1280, 3, generator=g) * 255).to(torch.uint8).numpy() for _ in range(n)]


if __name__ == "__main__":
    sys.exit(main())
