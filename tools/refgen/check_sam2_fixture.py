#!/usr/bin/python3
"""Replay a SAM 2 fixture written by gen_sam2_ref.py from its stored files only, with transformers, and compare.

What a consumer of the fixture (the C++ verifier) has to do, done with the reference implementation:
  sam2_tracker        Sam2Model.from_pretrained(sam2_tracker) on <case>.pixel_values / input_points / input_labels /
                      input_boxes / input_masks (input_aliases resolved), multimask_output from index.json
  sam2_tracker_video  Sam2VideoModel.from_pretrained(sam2_video); sessions built straight from
                      video.pixel_values, prompts put into the session from the stored *_model tensors (no
                      processor), steps from index.json case_steps
and checks that every stored output is reproduced exactly (same build, same thread count: bitwise).

  /usr/bin/python3 check_sam2_fixture.py FIXTURE_ROOT --transformers-src DIR
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def load_index(folder):
    with open(os.path.join(folder, "index.json")) as f:
        return json.load(f)


def check_tracker(root, tf, torch, st_io):
    d = os.path.join(root, "sam2_tracker")
    idx = load_index(d)
    model = tf.Sam2Model.from_pretrained(d, attn_implementation="eager").eval()
    inputs = st_io.load_file(os.path.join(d, "reference_inputs.safetensors"))
    outputs = st_io.load_file(os.path.join(d, "reference_outputs.safetensors"))

    def inp(name):
        return inputs[idx["input_aliases"].get(name, name)]

    n = 0
    for c in idx["cases"]:
        kw = {"pixel_values": inp(f"{c}.pixel_values")}
        for k in ("input_points", "input_labels", "input_boxes", "input_masks"):
            if f"{c}.{k}" in inputs or f"{c}.{k}" in idx["input_aliases"]:
                kw[k] = inp(f"{c}.{k}")
        with torch.no_grad():
            o = model(**kw, multimask_output=idx["multimask_output"][c])
        for k in ("iou_scores", "pred_masks", "object_score_logits"):
            assert torch.equal(getattr(o, k), outputs[f"{c}.{k}"]), f"sam2_tracker {c}.{k}"
            n += 1
        for i, e in enumerate(o.image_embeddings):
            assert torch.equal(e, outputs[f"{c}.image_embeddings.{i}"]), f"sam2_tracker {c}.image_embeddings.{i}"
            n += 1
    return n


def check_tracker_video(root, tf, torch, st_io):
    d = os.path.join(root, "sam2_tracker_video")
    idx = load_index(d)
    model = tf.Sam2VideoModel.from_pretrained(os.path.join(root, "sam2_video"), attn_implementation="eager").eval()
    video = st_io.load_file(os.path.join(root, "sam2_video", "reference_inputs.safetensors"))
    pv = video["video.pixel_values"]
    H, W = video["video.frames_uint8_thwc"].shape[1:3]
    inputs = st_io.load_file(os.path.join(d, "reference_inputs.safetensors"))
    outputs = st_io.load_file(os.path.join(d, "reference_outputs.safetensors"))
    seen = set()

    def compare(prefix, o):
        exp_ids = outputs[prefix + "object_ids"].tolist()
        assert list(o.object_ids) == exp_ids, prefix
        assert torch.equal(o.pred_masks, outputs[prefix + "pred_masks"]), prefix + "pred_masks"
        assert torch.equal(o.object_score_logits.reshape(-1), outputs[prefix + "object_score_logits"]), prefix
        vr = prefix + "video_res_mask_logits"
        if vr in outputs:
            ours = torch.nn.functional.interpolate(o.pred_masks, (H, W), mode="bilinear", align_corners=False)
            assert torch.equal(ours, outputs[vr]), vr
        seen.update(k for k in outputs if k.startswith(prefix))

    sess = None
    with torch.no_grad():
        for case, steps in idx["case_steps"].items():
            for st in steps:
                op = st["op"]
                if op == "init_video_session":
                    sess = tf.Sam2VideoInferenceSession(video=pv, video_height=H, video_width=W,
                                                        inference_device="cpu", dtype=torch.float32)
                elif op == "continue_session":
                    assert sess is not None
                elif op == "add_inputs":
                    obj_idx = sess.obj_id_to_idx(st["obj_id"])
                    f = st["frame"]
                    if st["prompt"] == "mask":
                        sess.add_mask_inputs(obj_idx, f, inputs[st["mask"]])
                        sess.remove_point_inputs(obj_idx, f)
                    else:
                        # the stored tensors are what the session held after the call (clear_old_inputs=False
                        # already concatenated)
                        sess.add_point_inputs(obj_idx, f, {"point_coords": inputs[st["points"]],
                                                           "point_labels": inputs[st["labels"]]})
                        sess.remove_mask_inputs(obj_idx, f)
                    sess.obj_with_new_inputs = [st["obj_id"]]
                elif op == "forward":
                    o = model(inference_session=sess, frame_idx=st["frame"])
                    compare(f"{case}.{st['stage']}.frame{st['frame']}.", o)
                elif op == "propagate_in_video_iterator":
                    frames = []
                    for o in model.propagate_in_video_iterator(sess, start_frame_idx=st["start_frame_idx"],
                                                               reverse=st["reverse"]):
                        frames.append(int(o.frame_idx))
                        compare(f"{case}.{st['stage']}.frame{int(o.frame_idx)}.", o)
                    assert frames == st["frames_in_order"], (frames, st["frames_in_order"])
                else:
                    raise SystemExit(f"unknown op {op}")
    missing = sorted(set(outputs) - seen)
    assert not missing, missing[:5]
    return len(seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="fixture root (holds sam2_video/, sam2_tracker/, sam2_tracker_video/)")
    ap.add_argument("--transformers-src", default=os.environ.get("SAM2_TRANSFORMERS_SRC"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import refshim

    refshim.install(args.transformers_src)
    import st_io
    import torch
    import transformers as tf

    torch.set_num_threads(args.threads)
    n1 = check_tracker(args.root, tf, torch, st_io)
    n2 = check_tracker_video(args.root, tf, torch, st_io)
    print(f"{args.root}: sam2_tracker {n1} outputs, sam2_tracker_video {n2} outputs reproduced bitwise from the stored "
          "inputs and case_steps")


if __name__ == "__main__":
    main()
