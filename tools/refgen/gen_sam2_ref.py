#!/usr/bin/python3
"""Generate SAM 2 / SAM 2.1 parity-reference data from the Hugging Face `transformers` implementation.

Runs on CPU with Debian's torch 1.13 thanks to the run-time shims in refshim.py (the transformers source tree is
used unmodified, from the path given by --transformers-src or $SAM2_TRANSFORMERS_SRC: the directory that holds the
`transformers` package; it is never copied here).

  tiny      : random weights (seeded) for a shrunken SAM 2.1 configuration, saved with transformers' own
              save_pretrained() (exact checkpoint key names), plus inputs, end-to-end outputs and per-module
              intermediates:
                sam2_video          Sam2VideoModel checkpoint (config.json + model.safetensors) and the synthetic
                                    video (uint8 frames and the pixel values Sam2VideoVideoProcessor makes of them);
                                    a checkpoint-only folder (no cases)
                sam2_tracker        Sam2Model (single-image SAM 2: points / box / mask prompts) whose weights are the
                                    video model's shared modules, saved with its own save_pretrained()
                sam2_tracker_video  Sam2VideoModel loaded with from_pretrained from sam2_video, run through
                                    Sam2VideoProcessor's inference session (points, box, mask, correction click,
                                    extra conditioning frames, reverse propagation)
  baseplus  : the same three folders and cases with a second small configuration: SAM 2.0 flags (no temporal
              encoding of object pointers, no occlusion spatial embedding), 1-head 56-wide Hiera stage 1 (the head
              dimension of the released base-plus), MLP ratio 2, other windows / global blocks / blocks per stage /
              FPN top-down levels / image size / video shape, max_cond_frame_num=2 (exercised: 3 conditioning
              frames).  index.json records the exact config (config_spec) and a leaf-by-leaf comparison with tiny
              (config_vs_tiny, a reason for every kept value).
  full      : manifests (every checkpoint key, dtype, shape) and config.json of the released sizes tiny, small,
              base-plus, large for SAM 2.1 and SAM 2.0, Sam2VideoModel and Sam2Model, with the settings of
              transformers' convert_sam2_to_hf.py / convert_sam2_video_to_hf.py (their own get_config), built on the
              meta device (nothing large is allocated).

Usage:
  /usr/bin/python3 gen_sam2_ref.py --config tiny --seed 0 --out OUTDIR --transformers-src /path/to/dir_with_transformers
  /usr/bin/python3 gen_sam2_ref.py --config baseplus --seed 1 --out OUTDIR
  /usr/bin/python3 gen_sam2_ref.py --config full --out OUTDIR
Output is bitwise reproducible for a given config, seed and --threads (default 1); SHA256SUMS lists every file but
timings.json.
"""

import argparse
import copy
import fnmatch
import hashlib
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TIMINGS = {}
MAX_FOLDER_BYTES = 4_000_000  # fixture budget per model folder


class Timer:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *a):
        TIMINGS[self.name] = round(time.perf_counter() - self.t0, 4)
        print(f"[time] {self.name}: {TIMINGS[self.name]:.3f}s", flush=True)


# ----------------------------------------------------------------------------------------
# Configurations.  Hard constraints of transformers' SAM 2 code that shape both:
#  - Sam2VideoMemoryAttentionLayer builds its memory cross-attention with kv_in_dim=64 hard-coded, so
#    memory_encoder_output_channels (mem_dim) must be 64 and the tracker width (fpn_hidden_size = SAM head width =
#    memory attention width) must be 64 or a multiple of it; 128 (object pointers split into 2 memory tokens) costs
#    ~4.8 MB of weights outside the backbone, beyond the 4 MB per-folder budget, so both configs are 64 wide and the
#    pointer split stays unexercised (released: 256 / 64, 4 tokens per pointer).
#  - Hiera: the input size must be a multiple of 32 (stride 4 patch embedding + 3 query-pooling stages, and the FPN's
#    2x nearest top-down upsampling needs even sizes); a query-pooling stage needs dim != dim_out (otherwise the
#    residual is not pooled); the window of a stage followed by a pooling stage must be even (the first block of the
#    next stage pools the previous stage's windows by 2); a global block must not be the first block of a pooling
#    stage (window 0 // 2 = 0 is then used as a modulus); pos_embed_window (window_size_per_stage[0]) must divide
#    the stage-1 grid (it is tiled).
#  - mask decoder: hidden/8 and hidden/4 channels (upscaling), cross-attention width hidden/2 divisible by its heads.
#  - the memory attention RoPE needs (hidden / (downsample_rate * heads)) % 4 == 0 and
#    memory_attention_rope_feat_sizes = image_size / 16 (the config default [64, 64] is for 1024 inputs).
# ----------------------------------------------------------------------------------------
class Profile:
    """One small configuration: the exact kwargs given to the transformers config classes plus the synthetic input
    sizes.  Dicts are deep-copied before use (the config classes add keys to the dicts they get)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        assert self.img % 32 == 0
        self.grid = self.img // 16  # image-embedding grid (stride 16)
        self.lowres = 4 * self.grid  # low-res mask size (stride 4)

    def vision(self):
        S = self.img
        dims = self.hiera["embed_dim_per_stage"]
        return dict(
            backbone_config=dict(self.hiera, image_size=[S, S]),
            backbone_channel_list=list(reversed(dims)),
            backbone_feature_sizes=[[S // 4, S // 4], [S // 8, S // 8], [S // 16, S // 16]],
            fpn_hidden_size=self.hidden,
            **self.neck,
        )

    def heads(self):
        D = self.hidden
        return dict(
            prompt_encoder_config=dict(hidden_size=D, image_size=self.img, patch_size=16, **self.prompt_encoder),
            mask_decoder_config=dict(hidden_size=D, **self.mask_decoder),
        )

    def flags(self):
        return dict(enable_temporal_pos_encoding_for_object_pointers=self.sam21,
                    enable_occlusion_spatial_embedding=self.sam21)

    def video_dict(self):
        D = self.hidden
        kw = dict(vision_config=self.vision(), **self.heads(), image_size=self.img, **self.flags())
        kw.update(self.memory)
        kw.update(memory_attention_hidden_size=D, memory_encoder_hidden_size=D, mask_downsampler_embed_dim=D,
                  memory_fuser_embed_dim=D, memory_encoder_output_channels=64,
                  memory_attention_rope_feat_sizes=[self.grid, self.grid])
        return copy.deepcopy(kw)

    def image_dict(self):
        # as convert_sam2_to_hf.py builds Sam2Config: the two SAM 2.1 flags are passed along (Sam2Model ignores them;
        # they end up in config.json)
        return copy.deepcopy(dict(vision_config=self.vision(), **self.heads(), **self.flags()))

    def spec(self):
        return copy.deepcopy({
            "image_size": self.img, "image_embedding_grid": self.grid, "low_res_mask_size": self.lowres,
            "images_hw": self.images_hw, "video_thw": list(self.video_thw),
            "sam2_video": dict(self.video_dict(), attn_implementation="eager"),
            "sam2_tracker": dict(self.image_dict(), attn_implementation="eager"),
            "sam2_tracker_video": "Sam2VideoModel.from_pretrained(sam2_video)",
        })


TINY = Profile(
    name="tiny",
    variant="SAM 2.1",
    img=128,  # Hiera grids 32/16/8/4, image embedding 8x8, low-res masks 32x32
    hiera=dict(
        hidden_size=16, num_attention_heads=2,
        # not 2x per stage (nothing may derive the widths from hidden_size * 2^i); 2x ([16, 32, 64, 128]) needs
        # 1.4 MB of backbone weights, which with the video's pixel values exceeds the 4 MB folder budget
        embed_dim_per_stage=[16, 24, 32, 48],
        num_attention_heads_per_stage=[2, 3, 4, 6],  # head dim 8 in every stage (constant, as released)
        blocks_per_stage=[1, 2, 3, 2],  # blocks 0 | 1 2 | 3 4 5 | 6 7
        window_size_per_stage=[4, 4, 6, 3],
        # stage 1: 32x32 in 4x4 windows; stage 2: 16x16 in 4x4; block 3 pools stage 2's 4-windows to 2x2 windows on
        # 8x8; block 5: 8x8 padded to 12 (2x2 windows of 6); block 6 pools 6-windows (8 padded to 12) to 3-windows on
        # 4x4 (padded to 6); block 7: 4x4 padded to 6 (2x2 windows of 3)
        global_attention_blocks=[4],
        window_positional_embedding_background_size=[6, 6],  # bicubic 6x6 -> 32x32, + 4x4 window embedding tiled
    ),
    neck=dict(fpn_top_down_levels=[2, 3]),  # released value (only the stride-16 level gets the top-down path)
    hidden=64,
    prompt_encoder=dict(mask_input_channels=8),
    mask_decoder=dict(mlp_dim=128, num_attention_heads=4, iou_head_depth=3, iou_head_hidden_dim=32),
    memory=dict(
        num_maskmem=4,  # released 7; 4 makes the memory window slide within 6 frames
        max_object_pointers_in_encoder=16,
        max_cond_frame_num=-1,  # released default: every conditioning frame
        memory_attention_num_layers=2,
        memory_attention_num_attention_heads=1,
        memory_attention_feed_forward_hidden_size=128,
        memory_fuser_num_layers=2,
        memory_fuser_intermediate_dim=128,
    ),
    sam21=True,
    images_hw=[150, 200],
    video_thw=(6, 64, 80),
)

BASEPLUS = Profile(
    name="baseplus",
    variant="SAM 2.0",
    img=96,  # Hiera grids 24/12/6/3, image embedding 6x6, low-res masks 24x24
    hiera=dict(
        hidden_size=56, num_attention_heads=1,
        # head dims 56 (released base-plus), 72 (released large), 40, 44; doubling the widths with the heads (head dim
        # 56 throughout: 56/112/224/448) needs ~9 MB of backbone weights, beyond the 4 MB fixture budget
        embed_dim_per_stage=[56, 72, 80, 88],
        num_attention_heads_per_stage=[1, 1, 2, 2],
        blocks_per_stage=[2, 1, 2, 2],  # blocks 0 1 | 2 | 3 4 | 5 6
        window_size_per_stage=[8, 6, 4, 5],
        # stage 1: 24x24 in 3x3 windows of 8 (block 1 global); block 2 pools 8-windows to 4-windows on 12x12; block 3
        # pools 6-windows to 3-windows on 6x6; block 5 pools 4-windows (6 padded to 8) to 2-windows on 3x3 (padded to
        # 4); block 6: 3x3 padded to 5, one window
        global_attention_blocks=[1, 4],
        window_positional_embedding_background_size=[10, 10],  # bicubic 10x10 -> 24x24, + 8x8 window embedding tiled
        mlp_ratio=2.0,
    ),
    neck=dict(fpn_top_down_levels=[1, 2, 3]),  # top-down path into the stride-8 level too (released: [2, 3])
    hidden=64,
    prompt_encoder=dict(mask_input_channels=16),
    mask_decoder=dict(mlp_dim=96, num_attention_heads=2, iou_head_depth=4, iou_head_hidden_dim=48),
    memory=dict(
        num_maskmem=3,
        max_object_pointers_in_encoder=3,
        max_cond_frame_num=2,  # Meta asserts >= 2; tv2 gives object 2 three conditioning frames
        memory_attention_num_layers=1,
        memory_attention_num_attention_heads=2,
        memory_attention_downsample_rate=2,  # internal width 32, head dim 16, RoPE on 16
        memory_attention_feed_forward_hidden_size=96,
        memory_fuser_num_layers=1,
        memory_fuser_intermediate_dim=96,
        memory_fuser_kernel_size=5,
        memory_fuser_padding=2,
    ),
    sam21=False,
    images_hw=[130, 110],
    video_thw=(5, 80, 64),
)

# Why leaves of BASEPLUS.spec() equal to TINY's stay equal (fnmatch over leaf paths, first match wins); the
# comparison refuses an equal leaf no pattern explains.
BASEPLUS_KEPT = [
    ("width_64", "*fpn_hidden_size",
     "64: memory_encoder_output_channels must be 64 (Sam2VideoMemoryAttentionLayer hard-codes kv_in_dim=64) and the "
     "tracker width a multiple of it; 128 does not fit the 4 MB fixture budget"),
    ("width_64", "*.hidden_size", "see *fpn_hidden_size (tracker width 64)"),
    ("width_64", "sam2_video.memory_*_hidden_size", "see *fpn_hidden_size"),
    ("width_64", "sam2_video.*embed_dim", "see *fpn_hidden_size"),
    ("width_64", "sam2_video.memory_encoder_output_channels", "must be 64 (kv_in_dim=64 hard-coded)"),
    ("patch", "*.patch_size", "16: the prompt encoder's stride (image embedding = image_size / 16)"),
    ("patch", "*.backbone_config.patch_*", "default"),
    ("model_type", "*model_type", "bookkeeping"),
    ("bookkeeping", "*attn_implementation", "eager (the reference attention)"),
    ("bookkeeping", "sam2_tracker_video", "documentation string"),
]


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def compare_with_tiny(p):
    a, b = _leaves(TINY.spec()), _leaves(p.spec())
    differs, kept, unexplained = {}, {}, []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<default>") != b.get(k, "<default>"):
            differs[k] = [a.get(k, "<default>"), b.get(k, "<default>")]
            continue
        why = next((f"{tag}: {text}" for tag, pat, text in BASEPLUS_KEPT if fnmatch.fnmatchcase(k, pat)), None)
        if why is None:
            unexplained.append(k)
        kept[k] = [b[k], why]
    assert not unexplained, f"equal to tiny without a reason in BASEPLUS_KEPT: {unexplained}"
    return {"differs_tiny_then_this": differs, "same_as_tiny_value_and_reason": kept}


PROFILES = {"tiny": TINY, "baseplus": BASEPLUS}
P = TINY  # active profile (main() sets it)


# ----------------------------------------------------------------------------------------
# helpers (same conventions as gen_sam3_ref.py, so the C++ fixture reader handles both)
# ----------------------------------------------------------------------------------------
def randomize_parameters(model, seed):
    """Make every parameter non-trivial, deterministically (sorted-name order, own generator), "scaled" mode:
    tensors with >=2 dims ~ N(0, 1/sqrt(fan_in)) (fan_in = prod(shape[1:]); N(0, 0.2) when shape[0] == 1, i.e.
    tokens / position embeddings); 1-D "*.weight" (norm gains) = 1 + N(0, 0.1); other 1-D (biases, layer scales)
    ~ N(0, 0.1).  Buffers (the prompt encoder's random Fourier matrix, RoPE tables) are left as built."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.dim() >= 2:
                fan_in = int(torch.tensor(p.shape[1:]).prod())
                sd = 0.2 if p.shape[0] == 1 else 1.0 / math.sqrt(fan_in)
                p.copy_(noise * sd)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def flatten_tensors(prefix, obj, out):
    import torch

    if isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().clone()
    elif hasattr(obj, "items"):  # ModelOutput / dict
        for k, v in obj.items():
            flatten_tensors(f"{prefix}.{k}", v, out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten_tensors(f"{prefix}.{i}", v, out)


class Recorder:
    """Forward hooks on named submodules; stores every tensor of their outputs under
    '<prefix><module path>.<field or index>'.  start(prefix, paths) opens a scope (call counters reset; `paths`
    limits which hooked modules record, None = all); a module's 2nd, 3rd, ... call in a scope gets '#call1', ..."""

    def __init__(self, model, paths):
        self.records, self.calls, self.handles = {}, {}, []
        self.active, self.prefix = None, ""
        mods = dict(model.named_modules())
        for p in paths:
            if p not in mods:
                raise KeyError(f"no submodule {p}")
            self.handles.append(mods[p].register_forward_hook(self._hook(p)))

    def _hook(self, path):
        def hook(module, inputs, output):
            n = self.calls.get(path, 0)
            self.calls[path] = n + 1
            if self.active is not None and path not in self.active:
                return
            flatten_tensors(f"{self.prefix}{path}" + (f"#call{n}" if n else ""), output, self.records)

        return hook

    def start(self, prefix, paths=None):
        self.prefix, self.calls = prefix, {}
        self.active = None if paths is None else set(paths)

    def close(self):
        for h in self.handles:
            h.remove()


def case_rng(seed, tag):
    return random.Random(f"refgen-sam2:{seed}:{tag}")


def rand_point(rng, h, w):
    return [round(rng.uniform(0.1 * w, 0.9 * w), 1), round(rng.uniform(0.1 * h, 0.9 * h), 1)]


def rand_box_xyxy(rng, h, w, min_frac=0.2, max_frac=0.6):
    bw, bh = rng.uniform(min_frac, max_frac) * w, rng.uniform(min_frac, max_frac) * h
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [round(x0, 1), round(y0, 1), round(x0 + bw, 1), round(y0 + bh, 1)]


def disc_mask(rng, h, w):
    """A filled ellipse (bool [h, w]) with random centre and radii."""
    import torch

    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.15, 0.3) * h, rng.uniform(0.15, 0.3) * w
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                            indexing="ij")
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def make_image(seed, h, w, variant):
    """Deterministic synthetic RGB uint8 image (gradients + 4 discs + noise), HWC."""
    import torch

    g = torch.Generator().manual_seed(seed * 1000 + variant)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([xx, yy, 1 - 0.5 * (xx + yy)], dim=-1) * 160.0
    for _ in range(4):
        cy, cx = torch.rand(2, generator=g)
        r = 0.08 + 0.15 * torch.rand(1, generator=g)
        col = torch.rand(3, generator=g) * 255
        blob = (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2).float()[..., None]
        img = img * (1 - blob) + col * blob
    img = img + torch.randn(h, w, 3, generator=g) * 6.0
    return img.round().clamp(0, 255).to(torch.uint8)


def make_video(seed, T, h, w):
    """Deterministic synthetic video, T x H x W x 3 uint8: gradient background, three discs moving linearly, fresh
    noise per frame."""
    import torch

    g = torch.Generator().manual_seed(seed * 1000 + 500)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, 1 - 0.5 * (xx + yy)], dim=-1) * 160.0
    discs = []
    for _ in range(3):
        c = torch.rand(2, generator=g) * 0.6 + 0.2
        v = (torch.rand(2, generator=g) - 0.5) * 0.06
        r = 0.1 + 0.1 * torch.rand(1, generator=g)
        col = torch.rand(3, generator=g) * 255
        discs.append((c, v, r, col))
    frames = []
    for t in range(T):
        img = base.clone()
        for c, v, r, col in discs:
            cy, cx = c + v * t
            disc = (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2).float()[..., None]
            img = img * (1 - disc) + col * disc
        img = img + torch.randn(h, w, 3, generator=g) * 4.0
        frames.append(img.round().clamp(0, 255).to(torch.uint8))
    return torch.stack(frames)


def tensor_manifest(d):
    return {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in sorted(d.items())}


def save_st(path, tensors, meta=None):
    import st_io

    st_io.save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_roundtrip(cls, model, path):
    """Reload the saved checkpoint with transformers' from_pretrained and compare every tensor by name."""
    import torch

    m2 = cls.from_pretrained(path, attn_implementation="eager")
    a, b = model.state_dict(), m2.state_dict()
    assert set(a) == set(b), (set(a) ^ set(b))
    bad = [k for k in a if not torch.equal(a[k], b[k])]
    assert not bad, bad[:5]
    return len(a), m2.eval()


def dedupe_inputs(inputs, min_bytes=1 << 14):
    """Keep one copy of identical large input tensors (first in insertion order); the others become aliases
    {dropped name: kept name} (index.json "input_aliases")."""
    import torch

    kept, aliases = {}, {}
    for k, v in inputs.items():
        if v.numel() * v.element_size() >= min_bytes:
            same = next((k2 for k2, v2 in kept.items() if v2.dtype == v.dtype and v2.shape == v.shape
                         and torch.equal(v2, v)), None)
            if same is not None:
                aliases[k] = same
                continue
        kept[k] = v
    return kept, aliases


def folder_bytes(d, skip=("index.json",)):
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d) if n not in skip)


def stability_score(mask_logits, delta):
    """Sam2MaskDecoder._get_stability_scores on one [H, W] logit map."""
    inter = float((mask_logits > delta).sum())
    union = float((mask_logits > -delta).sum())
    return inter / union if union > 0 else 1.0


def source_digests(tf_root):
    """sha256 of the transformers source files this generator exercises (provenance of the reference)."""
    files = ["models/sam2/modeling_sam2.py", "models/sam2/configuration_sam2.py", "models/sam2/processing_sam2.py",
             "models/sam2/image_processing_sam2_fast.py", "models/sam2/convert_sam2_to_hf.py",
             "models/sam2_video/modeling_sam2_video.py", "models/sam2_video/configuration_sam2_video.py",
             "models/sam2_video/processing_sam2_video.py", "models/sam2_video/video_processing_sam2_video.py",
             "models/sam2_video/convert_sam2_video_to_hf.py"]
    return {f: sha256(os.path.join(tf_root, f)) for f in files if os.path.isfile(os.path.join(tf_root, f))}


# ----------------------------------------------------------------------------------------
# sam2_video (checkpoint) + object-score calibration
# ----------------------------------------------------------------------------------------
OBJ_SCORE_BIAS_SHIFT = 3.0
FULL_RECORD_FRAMES = (0, 1)  # video intermediates: every hooked module on these frames, fewer on the others


def build_video_model(args, tf):
    import torch

    torch.manual_seed(args.seed + 200)  # the prompt encoder's random Fourier buffers are drawn at construction
    cfg = tf.Sam2VideoConfig(**P.video_dict(), attn_implementation="eager")
    model = tf.Sam2VideoModel(cfg).eval()
    randomize_parameters(model, args.seed + 201)
    with torch.no_grad():
        # as in every converted checkpoint (convert_sam2*_to_hf.py copies prompt_encoder.shared_embedding into
        # shared_image_embedding; Meta has one pe_layer): the two random Fourier matrices are one
        model.shared_image_embedding.positional_embedding.copy_(
            model.prompt_encoder.shared_embedding.positional_embedding)
    return cfg, model


def run_video_session_probe(tf, model, tproc, video_list, prompts):
    """tv0's prompts (object 1 points, object 2 box on frame 0) and a propagation over the video: every object
    score logit, to decide whether the object-score head needs a bias shift."""
    import torch

    sess = tproc.init_video_session(video=video_list, inference_device="cpu")
    scores = []
    with torch.no_grad():
        tproc.add_inputs_to_inference_session(sess, frame_idx=0, obj_ids=[1], input_points=[[prompts["obj1_pts"]]],
                                              input_labels=[[prompts["obj1_lbl"]]])
        scores.append(model(inference_session=sess, frame_idx=0).object_score_logits.reshape(-1))
        tproc.add_inputs_to_inference_session(sess, frame_idx=0, obj_ids=[2], input_boxes=[[prompts["obj2_box"]]])
        scores.append(model(inference_session=sess, frame_idx=0).object_score_logits.reshape(-1))
        for o in model.propagate_in_video_iterator(sess, start_frame_idx=0):
            scores.append(o.object_score_logits.reshape(-1))
    return torch.cat(scores)


def write_video_folder(args, tf, out, model, frames, pv, shift_note):
    d_vid = os.path.join(out, "sam2_video")
    os.makedirs(d_vid, exist_ok=True)
    with Timer(f"{P.name}.sam2_video.save_pretrained"):
        model.save_pretrained(d_vid)
    with Timer(f"{P.name}.sam2_video.reload_check"):
        n_keys, _ = check_roundtrip(tf.Sam2VideoModel, model, d_vid)
    inputs = {"video.frames_uint8_thwc": frames, "video.pixel_values": pv}
    save_st(os.path.join(d_vid, "reference_inputs.safetensors"), inputs)
    T, H, W = P.video_thw
    return {
        "class": "Sam2VideoModel",
        "checkpoint": "sam2_video/model.safetensors",
        "num_checkpoint_tensors": n_keys,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "attn_implementation": "eager",
        "variant": P.variant,
        "cases": {},
        "notes": [
            "checkpoint-only folder: the Sam2VideoModel checkpoint (save_pretrained: config.json + model.safetensors, "
            "keys exactly as transformers names them, no prefix) and the synthetic video; the cases that run it are "
            "in sam2_tracker_video/",
            f"frames: video.frames_uint8_thwc ({T}x{H}x{W}x3 uint8) -> Sam2VideoVideoProcessor(size {P.img}x{P.img}: "
            "bilinear antialiased resize of the uint8 frames, rescale 1/255, ImageNet mean/std normalisation) -> "
            f"video.pixel_values ({T}x3x{P.img}x{P.img} float32)",
            "weights: seeded 'scaled' randomisation (init_doc); shared_image_embedding.positional_embedding is a copy "
            "of prompt_encoder.shared_embedding.positional_embedding (both random Fourier buffers), as in converted "
            "checkpoints",
            shift_note,
        ],
        "inputs": tensor_manifest(inputs),
        "outputs": {},
        "intermediates": {},
    }


# ----------------------------------------------------------------------------------------
# sam2_tracker: Sam2Model with the video model's weights
# ----------------------------------------------------------------------------------------
def run_tracker(args, tf, out, vmodel, shift_note):
    import torch

    d_trk = os.path.join(out, "sam2_tracker")
    os.makedirs(d_trk, exist_ok=True)
    S, LR = P.img, P.lowres
    with Timer(f"{P.name}.sam2_tracker.build"):
        torch.manual_seed(args.seed + 100)
        tcfg = tf.Sam2Config(**P.image_dict(), attn_implementation="eager")
        tracker = tf.Sam2Model(tcfg).eval()
        vsd = vmodel.state_dict()
        tsd = tracker.state_dict()
        assert all(k in vsd and vsd[k].shape == v.shape for k, v in tsd.items()), \
            [k for k in tsd if k not in vsd]
        tracker.load_state_dict({k: vsd[k] for k in tsd}, strict=True)
    with Timer(f"{P.name}.sam2_tracker.save_pretrained"):
        tracker.save_pretrained(d_trk)
    with Timer(f"{P.name}.sam2_tracker.reload_check"):
        n_tkeys, _ = check_roundtrip(tf.Sam2Model, tracker, d_trk)
        # Sam2Model.from_pretrained on the video checkpoint (how transformers maps the hub's sam2_video checkpoints
        # to the image model) gives the same weights
        from_video = tf.Sam2Model.from_pretrained(os.path.join(out, "sam2_video"), attn_implementation="eager")
        fv = from_video.state_dict()
        assert set(fv) == set(tsd) and all(torch.equal(fv[k], tsd[k]) for k in tsd)
        del from_video

    rng = case_rng(args.seed, "sam2_tracker")
    H, W = P.images_hw
    img0 = make_image(args.seed, H, W, 0)
    proc = tf.Sam2Processor(image_processor=tf.Sam2ImageProcessorFast(size={"height": S, "width": S}))
    p_pos, p_neg = rand_point(rng, H, W), rand_point(rng, H, W)
    box0 = rand_box_xyxy(rng, H, W)
    p_single = rand_point(rng, H, W)
    box1 = rand_box_xyxy(rng, H, W)
    p_refine = rand_point(rng, H, W)
    p_t4 = rand_point(rng, H, W)
    mask_t4 = disc_mask(rng, S, S)

    def encode(points=None, labels=None, boxes=None):
        enc = proc(images=img0.numpy(), input_points=points, input_labels=labels, input_boxes=boxes,
                   return_tensors="pt")
        d = {"pixel_values": enc["pixel_values"]}
        for k in ("input_points", "input_labels", "input_boxes"):
            if k in enc:
                d[k] = enc[k]
        return d

    with Timer(f"{P.name}.sam2_tracker.preprocess"):
        prompts_px = {
            "t0_points_box": dict(points=[[[p_pos, p_neg]]], labels=[[[1, 0]]], boxes=[[box0]]),
            "t1_single_point": dict(points=[[[p_single]]], labels=[[[1]]]),
            "t2_box_single_mask": dict(boxes=[[box1]]),
            "t3_mask_input": dict(points=[[[p_single, p_refine]]], labels=[[[1, 0]]]),
            "t4_mask_resize": dict(points=[[[p_t4]]], labels=[[[1]]]),
        }
        tcases = {c: encode(**kw) for c, kw in prompts_px.items()}
    multimask = {"t0_points_box": True, "t1_single_point": True, "t2_box_single_mask": False, "t3_mask_input": True,
                 "t4_mask_resize": False}

    nblocks = sum(P.hiera["blocks_per_stage"])
    vision_paths = (["vision_encoder.backbone", "vision_encoder.backbone.patch_embed"]
                    + [f"vision_encoder.backbone.blocks.{i}" for i in range(nblocks)] + ["vision_encoder.neck"])
    other_paths = (["prompt_encoder", "mask_decoder", "mask_decoder.transformer", "shared_image_embedding"]
                   + [f"mask_decoder.transformer.layers.{i}" for i in range(tcfg.mask_decoder_config.num_hidden_layers)])
    trec = Recorder(tracker, vision_paths + other_paths)
    toutputs, tinputs, stability = {}, {"image0_uint8_hwc": img0}, {}
    delta = tcfg.mask_decoder_config.dynamic_multimask_stability_delta
    thresh = tcfg.mask_decoder_config.dynamic_multimask_stability_thresh
    with torch.no_grad():
        for c, kw in tcases.items():
            if c == "t3_mask_input":
                # iterative refinement: t1's best (highest predicted IoU) low-res mask logits as the mask prompt
                best = int(toutputs["t1_single_point.iou_scores"][0, 0].argmax())
                kw["input_masks"] = toutputs["t1_single_point.pred_masks"][0, 0, best][None, None].clone()
            if c == "t4_mask_resize":
                kw["input_masks"] = mask_t4.float()[None, None]  # [1, 1, S, S]: resized to LR x LR inside
            for k, v in kw.items():
                tinputs[f"{c}.{k}"] = v
            trec.start(f"{c}.", None if c == "t0_points_box" else other_paths)
            with Timer(f"{P.name}.sam2_tracker.forward.{c}"):
                o = tracker(**kw, multimask_output=multimask[c])
            flatten_tensors(c, o, toutputs)
    trec.close()
    tinter = trec.records
    # the Hiera input position embedding (bicubic background + tiled window embedding), not a module output
    bb = tracker.vision_encoder.backbone
    grid1 = tinter["t0_points_box.vision_encoder.backbone.patch_embed"].shape[1:3]
    tinter["t0_points_box.vision_encoder.backbone.pos_embed"] = bb._get_pos_embed(tuple(grid1)).detach().clone()
    # drop exact duplicates and tensors the image model never uses (fixture budget), after checking them
    stage_ends = [int(i) for i in bb.stage_ends]
    pre = "t0_points_box.vision_encoder."
    for s_i, b_i in enumerate(stage_ends):
        assert torch.equal(tinter[f"{pre}backbone.intermediate_hidden_states.{s_i}"], tinter[f"{pre}backbone.blocks.{b_i}"])
        del tinter[f"{pre}backbone.intermediate_hidden_states.{s_i}"]
    n_levels = len(P.hiera["embed_dim_per_stage"])
    kept_pe = n_levels - 1 - 2  # neck outputs run from the lowest resolution (index 0) up; keep the stride-16 level
    for i in range(n_levels):
        if i != kept_pe:
            del tinter[f"{pre}neck.1.{i}"]
    # dynamic multimask: which mask won (token 0 alone with the switch off vs. the best of tokens 1..3) and its margin
    with torch.no_grad():
        for c in [c for c in multimask if not multimask[c]]:
            kw = {k: v for k, v in tcases[c].items()}
            o4 = tracker(**kw, multimask_output=True)  # tokens 1..3
            dec = tracker.mask_decoder
            saved = dec.dynamic_multimask_via_stability
            dec.dynamic_multimask_via_stability = False
            o1 = tracker(**kw, multimask_output=False)  # token 0 alone
            dec.dynamic_multimask_via_stability = saved
            st = stability_score(o1.pred_masks[0, 0, 0], delta)
            stable = st >= thresh
            best = int(o4.iou_scores[0, 0].argmax())
            chosen_ok = torch.equal(toutputs[f"{c}.pred_masks"][0, 0, 0],
                                    (o1 if stable else o4).pred_masks[0, 0, 0 if stable else best])
            assert chosen_ok
            stability[c] = {"single_mask_token_stability": st, "threshold": thresh, "delta": delta,
                            "kept_single_mask_token": bool(stable),
                            "fallback_multimask_index": None if stable else best,
                            "margin_to_threshold": abs(st - thresh)}

    tinputs, aliases = dedupe_inputs(tinputs)
    save_st(os.path.join(d_trk, "reference_inputs.safetensors"), tinputs)
    save_st(os.path.join(d_trk, "reference_outputs.safetensors"), toutputs)
    save_st(os.path.join(d_trk, "reference_intermediates.safetensors"), tinter)
    nmm = tcfg.mask_decoder_config.num_multimask_outputs
    return {
        "class": "Sam2Model",
        "checkpoint": "sam2_tracker/model.safetensors",
        "num_checkpoint_tensors": n_tkeys,
        "num_parameters": sum(p.numel() for p in tracker.parameters()),
        "attn_implementation": "eager",
        "variant": P.variant,
        "input_aliases": aliases,
        "backbone_stage_ends": stage_ends,
        "pruned_intermediates": [
            f"t0_points_box.vision_encoder.backbone.intermediate_hidden_states.<s> (identical to "
            f"vision_encoder.backbone.blocks.<stage end s>, stage ends {stage_ends}; asserted)",
            f"t0_points_box.vision_encoder.neck.1.<i> for i != {kept_pe}: sine position encodings of the levels the "
            f"SAM heads do not use (neck.1.{kept_pe}, the stride-16 level, is kept: the video model's memory "
            "attention uses it)"],
        "multimask_output": multimask,
        "dynamic_multimask": stability,
        "prompts_image_px": {"image0_hw": [H, W], **prompts_px},
        "cases": {
            "t0_points_box": f"image0; one positive + one negative point and one xyxy box; multimask_output=True "
                             f"({nmm} masks); points and box go to the prompt encoder together (no padding point)",
            "t1_single_point": f"image0; one positive point (the prompt encoder appends a padding point, label -1); "
                               f"multimask_output=True ({nmm} masks)",
            "t2_box_single_mask": "image0; box only; multimask_output=False (dynamic multimask via stability, see "
                                  "dynamic_multimask)",
            "t3_mask_input": f"image0; t1's point plus one negative point, and input_masks = t1's best (argmax "
                             f"iou_scores) low-res mask logits [1,1,{LR},{LR}] (= prompt_encoder.mask_input_size: no "
                             f"resize); multimask_output=True",
            "t4_mask_resize": f"image0; one positive point and a binary (0/1 float) ellipse mask [1,1,{S},{S}], which "
                              f"Sam2Model resizes to [1,1,{LR},{LR}] (F.interpolate bilinear, align_corners=False, "
                              "antialias=True) before the prompt encoder; multimask_output=False",
        },
        "notes": [
            "weights: the sam2_video model's values for every Sam2Model key (Sam2Model.from_pretrained(sam2_video) "
            "loads the same tensors, asserted: the memory modules are ignored)",
            f"pixel_values: Sam2Processor(Sam2ImageProcessorFast(size {S}x{S})) on image0_uint8_hwc ({H}x{W}): "
            "bilinear antialiased resize of the uint8 image (rounded to uint8), rescale 1/255, ImageNet mean/std; "
            "identical in every case, stored once (input_aliases)",
            f"prompts were drawn in image0 pixels (prompts_image_px) and mapped by Sam2Processor to the {S}x{S} model "
            f"input (x*{S}/{W}, y*{S}/{H}); <case>.input_points / input_boxes are those model-input coordinates, as "
            "given to Sam2Model; the prompt encoder adds 0.5 and divides by image_size",
            "outputs <case>.iou_scores, pred_masks (low-res logits [1,1,n,LR,LR]), object_score_logits, "
            "image_embeddings.0/1/2 (= conv_s0(level 0), conv_s1(level 1), level 2 + no_memory_embedding: "
            "transformers' Sam2Model always adds no_memory_embedding to the image embedding, as Meta's "
            "SAM2ImagePredictor does with directly_add_no_mem_embed)",
            "intermediates <case>.<module>.<i|field>: t0 records the vision path too (vision_encoder.backbone."
            "last_hidden_state (its intermediate_hidden_states are pruned: = blocks at backbone_stage_ends), "
            "backbone.patch_embed, backbone.blocks.<i> (B,H,W,C), backbone.pos_embed (not a module: _get_pos_embed of "
            "the stage-1 grid, added to patch_embed), vision_encoder.neck.0.<i> FPN features of all 4 levels from the "
            "lowest resolution (i=0, stride 32) up, vision_encoder.neck.1.<i> the sine position encoding of the "
            "stride-16 level only); every case records prompt_encoder (.0 sparse, .1 dense), mask_decoder (.0 masks, "
            ".1 iou, .2 sam tokens, .3 object score logits), mask_decoder.transformer (.0 tokens, .1 image), "
            "mask_decoder.transformer.layers.<i> (.0 queries, .1 keys, .2 the image-to-token attention output), shared_image_embedding "
            "(the image-wide positional embedding [G,G,C])",
            shift_note,
        ],
        "inputs": tensor_manifest(tinputs),
        "outputs": tensor_manifest(toutputs),
        "intermediates": tensor_manifest(tinter),
    }


# ----------------------------------------------------------------------------------------
# sam2_tracker_video: Sam2VideoModel through Sam2VideoProcessor's inference session
# ----------------------------------------------------------------------------------------
def wrap_forward_with_scope(model, rec, state):
    """Instance-level forward wrapper: opens a Recorder scope '<state.prefix>frame<idx>.' per call."""
    orig = model.forward

    def forward(*a, **k):
        f = k.get("frame_idx")
        rec.start(f"{state['prefix']}frame{f}.", state["paths"](f))
        return orig(*a, **k)

    model.forward = forward
    return lambda: model.__dict__.pop("forward", None)


def make_tv_prompts(args):
    import torch

    T, H, W = P.video_thw
    rng = case_rng(args.seed, "sam2_tracker_video")
    L = T - 1
    pr = {
        "obj1_pts": [rand_point(rng, H, W), rand_point(rng, H, W)], "obj1_lbl": [1, 0],
        "obj2_box": rand_box_xyxy(rng, H, W, 0.25, 0.6),
        "corr_pt": rand_point(rng, H, W), "corr_lbl": rng.choice([0, 1]),
        "obj2_f2_pt": rand_point(rng, H, W), "obj2_f4_pt": rand_point(rng, H, W),
        "obj3_pts": [rand_point(rng, H, W), rand_point(rng, H, W)], "obj3_lbl": [1, 0],
        "obj4_mask": disc_mask(rng, H, W),
        "obj5_mask": torch.zeros(H, W, dtype=torch.bool),  # empty: a robustly 'absent' object (score logit -10)
        "last": L,
    }
    return pr


def run_tracker_video(args, tf, out, tproc, video_list, pv, pr):
    import torch

    d_vid = os.path.join(out, "sam2_video")
    d_tv = os.path.join(out, "sam2_tracker_video")
    os.makedirs(d_tv, exist_ok=True)
    T, H, W = P.video_thw
    L = pr["last"]
    F2, F4 = 2, 4  # tv2's extra conditioning frames of object 2
    assert F4 < T
    with Timer(f"{P.name}.sam2_tracker_video.load"):
        tv = tf.Sam2VideoModel.from_pretrained(d_vid, attn_implementation="eager").eval()

    tpaths = ["prompt_encoder", "mask_decoder", "memory_attention", "memory_encoder", "object_pointer_proj"]
    tpaths_light = ["mask_decoder", "memory_attention", "object_pointer_proj"]
    trec = Recorder(tv, tpaths)
    tscope = {}

    def tv_paths(f):
        stage = tscope["prefix"].rstrip(".").rsplit(".", 1)[-1]
        if not stage.startswith("propagate"):
            return None
        return [p for p in tpaths if p != "prompt_encoder"] if f in FULL_RECORD_FRAMES else tpaths_light

    tscope["paths"] = tv_paths
    unwrap = wrap_forward_with_scope(tv, trec, tscope)
    tvoutputs, tvinputs, steps, order = {}, {}, {}, {}
    osz = [[H, W]]

    def store(stage, o):
        f = int(o.frame_idx)
        p = f"{stage}.frame{f}."
        tvoutputs[p + "object_ids"] = torch.tensor(list(o.object_ids), dtype=torch.int64)
        tvoutputs[p + "pred_masks"] = o.pred_masks.detach().clone()
        tvoutputs[p + "object_score_logits"] = o.object_score_logits.detach().clone().reshape(-1)
        if stage.rsplit(".", 1)[-1].startswith("propagate"):  # fixture budget: not for the add_obj* stages
            tvoutputs[p + "video_res_mask_logits"] = tproc.post_process_masks(
                [o.pred_masks], original_sizes=osz, binarize=False)[0].detach().clone()

    def put_input(name, value):
        if name in tvinputs:
            assert tvinputs[name].dtype == value.dtype and torch.equal(tvinputs[name], value), name
        tvinputs[name] = value

    def session_prompt(sess, obj_id, f, kind):
        idx = sess.obj_id_to_idx(obj_id)
        if kind == "mask":
            t = sess.mask_inputs_per_obj[idx][f].clone()
            put_input(f"obj{obj_id}.frame{f}.mask_model", t)
            return {"mask": f"obj{obj_id}.frame{f}.mask_model"}
        pi = sess.point_inputs_per_obj[idx][f]
        put_input(f"obj{obj_id}.frame{f}.point_coords_model", pi["point_coords"].clone())
        put_input(f"obj{obj_id}.frame{f}.point_labels_model", pi["point_labels"].clone())
        return {"points": f"obj{obj_id}.frame{f}.point_coords_model",
                "labels": f"obj{obj_id}.frame{f}.point_labels_model"}

    def add(case, sess, obj_id, f, clear=True, **kw):
        tproc.add_inputs_to_inference_session(sess, frame_idx=f, obj_ids=[obj_id], clear_old_inputs=clear, **kw)
        kind = "mask" if "input_masks" in kw else "points"
        st = {"op": "add_inputs", "obj_id": obj_id, "frame": f, "clear_old_inputs": clear,
              "prompt": "mask" if kind == "mask" else ("box" if "input_boxes" in kw else "points")}
        st.update(session_prompt(sess, obj_id, f, kind))
        steps[case].append(st)

    def forward(case, sess, f, stage):
        tscope["prefix"] = f"{case}.{stage}."
        store(f"{case}.{stage}", tv(inference_session=sess, frame_idx=f))
        steps[case].append({"op": "forward", "frame": f, "stage": stage,
                            "outputs": f"{case}.{stage}.frame{f}.*"})

    def propagate(case, sess, start, stage, reverse=False):
        tscope["prefix"] = f"{case}.{stage}."
        frames = []
        for o in tv.propagate_in_video_iterator(sess, start_frame_idx=start, reverse=reverse):
            store(f"{case}.{stage}", o)
            frames.append(int(o.frame_idx))
        steps[case].append({"op": "propagate_in_video_iterator", "start_frame_idx": start, "reverse": reverse,
                            "stage": stage, "frames_in_order": frames, "outputs": f"{case}.{stage}.frame<f>.*"})
        order[f"{case}.{stage}"] = frames

    def new_session(case, note):
        sess = tproc.init_video_session(video=video_list, inference_device="cpu")
        assert all(torch.equal(sess.processed_frames[i], pv[i]) for i in range(T))
        steps[case] = [{"op": "init_video_session", "note": note}]
        return sess

    # prompts as given to the processor, in video pixels (x, y)
    put_input("obj1.frame0.points_video_px", torch.tensor([[pr["obj1_pts"]]]))
    put_input("obj1.frame0.labels", torch.tensor([[pr["obj1_lbl"]]]))
    put_input("obj2.frame0.box_xyxy_video_px", torch.tensor([[pr["obj2_box"]]]))
    put_input("obj1.frame3.correction_point_video_px", torch.tensor([[[pr["corr_pt"]]]]))
    put_input("obj1.frame3.correction_label", torch.tensor([[[pr["corr_lbl"]]]]))
    put_input(f"obj2.frame{F2}.points_video_px", torch.tensor([[[pr["obj2_f2_pt"]]]]))
    put_input(f"obj2.frame{F2}.labels", torch.tensor([[[1]]]))
    put_input(f"obj2.frame{F4}.points_video_px", torch.tensor([[[pr["obj2_f4_pt"]]]]))
    put_input(f"obj2.frame{F4}.labels", torch.tensor([[[1]]]))
    put_input(f"obj3.frame{L}.points_video_px", torch.tensor([[pr["obj3_pts"]]]))
    put_input(f"obj3.frame{L}.labels", torch.tensor([[pr["obj3_lbl"]]]))
    put_input(f"obj4.frame{L}.mask_video_px", pr["obj4_mask"].clone())
    put_input(f"obj5.frame{L}.mask_video_px", pr["obj5_mask"].clone())

    obj1 = dict(input_points=[[pr["obj1_pts"]]], input_labels=[[pr["obj1_lbl"]]])
    obj2 = dict(input_boxes=[[pr["obj2_box"]]])
    with torch.no_grad():
        c = "tv0_points_box"
        with Timer(f"{P.name}.sam2_tracker_video.{c}"):
            sess = new_session(c, "new session over video.pixel_values (sam2_video/reference_inputs)")
            add(c, sess, 1, 0, **obj1)
            forward(c, sess, 0, "add_obj1")
            add(c, sess, 2, 0, **obj2)
            forward(c, sess, 0, "add_obj2")
            propagate(c, sess, 0, "propagate")
        c = "tv1_correction_f3"
        with Timer(f"{P.name}.sam2_tracker_video.{c}"):
            steps[c] = [{"op": "continue_session", "of": "tv0_points_box"}]
            add(c, sess, 1, 3, clear=False, input_points=[[[pr["corr_pt"]]]], input_labels=[[[pr["corr_lbl"]]]])
            propagate(c, sess, 3, "propagate")
        c = "tv2_second_frame_click"
        with Timer(f"{P.name}.sam2_tracker_video.{c}"):
            sess = new_session(c, "new session (fresh state; tv0's frame-0 prompts again)")
            add(c, sess, 1, 0, **obj1)
            forward(c, sess, 0, "add_obj1")
            add(c, sess, 2, 0, **obj2)
            forward(c, sess, 0, "add_obj2")
            add(c, sess, 2, F2, input_points=[[[pr["obj2_f2_pt"]]]], input_labels=[[[1]]])
            forward(c, sess, F2, "add_obj2")
            add(c, sess, 2, F4, input_points=[[[pr["obj2_f4_pt"]]]], input_labels=[[[1]]])
            forward(c, sess, F4, "add_obj2")
            cond = {f"obj{i}": sorted(sess.output_dict_per_obj[sess.obj_id_to_idx(i)]["cond_frame_outputs"])
                    for i in (1, 2)}
            assert cond == {"obj1": [0], "obj2": [0, F2, F4]}, cond
            propagate(c, sess, 0, "propagate")
        c = "tv3_reverse"
        with Timer(f"{P.name}.sam2_tracker_video.{c}"):
            sess = new_session(c, "new session (fresh state)")
            add(c, sess, 3, L, input_points=[[pr["obj3_pts"]]], input_labels=[[pr["obj3_lbl"]]])
            forward(c, sess, L, "add_obj3")
            add(c, sess, 4, L, input_masks=pr["obj4_mask"].numpy())
            forward(c, sess, L, "add_obj4")
            add(c, sess, 5, L, input_masks=pr["obj5_mask"].numpy())
            forward(c, sess, L, "add_obj5")
            propagate(c, sess, L, "propagate_reverse", reverse=True)
    unwrap()
    trec.close()
    tvinter = trec.records
    save_st(os.path.join(d_tv, "reference_inputs.safetensors"), tvinputs)
    save_st(os.path.join(d_tv, "reference_outputs.safetensors"), tvoutputs)
    save_st(os.path.join(d_tv, "reference_intermediates.safetensors"), tvinter)
    scores = {k: [round(x, 4) for x in v.tolist()] for k, v in sorted(tvoutputs.items())
              if k.endswith("object_score_logits")}
    m = P.memory
    ncond = "every conditioning frame (max_cond_frame_num=-1)" if m["max_cond_frame_num"] == -1 else (
        f"the {m['max_cond_frame_num']} conditioning frames closest in time (max_cond_frame_num="
        f"{m['max_cond_frame_num']}: the closest before, the closest at/after, then the nearest others); unselected "
        "conditioning frames may still enter as non-conditioning memories when they fall in the num_maskmem window")
    entry = {
        "class": "Sam2VideoModel",
        "checkpoint": "sam2_video/model.safetensors (Sam2VideoModel.from_pretrained(sam2_video), no key renaming)",
        "config": "sam2_video/config.json",
        "num_parameters": sum(p.numel() for p in tv.parameters()),
        "attn_implementation": "eager",
        "variant": P.variant,
        "case_steps": steps,
        "propagation_order": order,
        "object_score_logits_per_output": scores,
        "cases": {
            "tv0_points_box": "new session; object 1 = positive + negative click on frame 0 (add_inputs, then "
                              "model(frame_idx=0): stage add_obj1), object 2 = one box on frame 0 (add_inputs, then "
                              "model(frame_idx=0): stage add_obj2; object 1's frame-0 result is reused, not "
                              f"recomputed), then propagate_in_video_iterator(start_frame_idx=0) over frames "
                              f"0..{T - 1} (stage propagate; frame 0 reuses both conditioning outputs)",
            "tv1_correction_f3": "continues tv0's session: one extra click for object 1 on frame 3 (label in "
                                 "obj1.frame3.correction_label; clear_old_inputs=False, frame 3 had no points so the "
                                 "session's frame-3 points are just this click), then "
                                 f"propagate_in_video_iterator(start_frame_idx=3) over frames 3..{T - 1} (stage "
                                 "propagate); frame 3 was tracked in tv0, so the click is a correction: object 1's "
                                 "frame-3 output is recomputed with the click (is_init_cond_frame=False, stored as a "
                                 "non-conditioning output), object 2 is re-tracked as usual",
            "tv2_second_frame_click": "new session; object 1 = tv0's clicks on frame 0 (stage add_obj1), object 2 = "
                                      "tv0's box on frame 0 (stage add_obj2), then one positive click for object 2 on "
                                      f"frame {F2} + model(frame_idx={F2}) and one on frame {F4} + model(frame_idx="
                                      f"{F4}) (both stage add_obj2; frames {F2} and {F4} were never tracked, so each is "
                                      "a new conditioning frame of object 2: no memory, no_memory_embedding; each of "
                                      "these forwards also tracks object 1 on that frame from its memory and stores "
                                      "it as a non-conditioning output), then propagate_in_video_iterator("
                                      f"start_frame_idx=0) over 0..{T - 1} (stage propagate): object 2 reuses its "
                                      f"conditioning outputs on 0, {F2}, {F4} and is tracked elsewhere with memory of "
                                      f"{ncond}; object pointers come from conditioning frames at or before the "
                                      "current frame (transformers takes them from all conditioning frames, not only "
                                      "the selected ones)",
            "tv3_reverse": f"new session; object 3 = positive + negative click on the last frame {L} (stage "
                           f"add_obj3), object 4 = a binary mask on frame {L} (obj4.frame{L}.mask_video_px, "
                           f"{H}x{W} bool; the processor resizes it to {P.img}x{P.img} with antialiased bilinear and "
                           f"thresholds at 0.5: obj4.frame{L}.mask_model; the model uses it as the output mask "
                           "(_use_mask_as_output) and derives the object pointer from the SAM decoder run on "
                           "mask_downsample(mask)) (stage add_obj4), object 5 = an all-False mask on frame "
                           f"{L} (obj5.frame{L}.mask_video_px / mask_model: zeros): a conditioning frame where the "
                           "object is absent by construction (object_score_logits = -10, object pointer = "
                           "no_object_pointer" + (", memory gets occlusion_spatial_embedding_parameter" if P.sam21
                                                  else "") + ") (stage add_obj5), then "
                           f"propagate_in_video_iterator(start_frame_idx={L}, reverse=True) over frames {L}..0 (stage "
                           "propagate_reverse: memories and object pointers from later frames; frame "
                           f"{L} reuses the three conditioning outputs)",
        },
        "notes": [
            "frames / pixel values: sam2_video/reference_inputs.safetensors video.* (Sam2VideoProcessor's session "
            "preprocessing gives identical tensors, asserted)",
            "case_steps: the exact call sequence per case (init/continue session, add_inputs with the input names of "
            "the prompt as the session stored it, forward = model(inference_session, frame_idx), "
            "propagate_in_video_iterator with the frames in processing order); stages: add_obj<k>, propagate, "
            "propagate_reverse",
            f"inputs: prompts in video pixels ({H}x{W} frame, x,y) as given to "
            "Sam2VideoProcessor.add_inputs_to_inference_session (points_video_px + labels, box_xyxy_video_px, "
            "correction_point_video_px + correction_label, mask_video_px) and what the session stored: "
            f"point_coords_model / point_labels_model in model-input pixels ({P.img}, x*{P.img}/{W}, y*{P.img}/{H}; "
            "a box becomes two points with labels 2, 3, int32; clicks int64) and mask_model [1,1,S,S] float",
            f"outputs per <case>.<stage>.frame<f>: object_ids (session order), pred_masks (num_obj x 1 x {P.lowres} x "
            f"{P.lowres} low-res logits), object_score_logits, and on propagate* stages video_res_mask_logits "
            f"(post_process_masks, binarize=False: bilinear, align_corners=False, to {H}x{W}; left out on add_obj* "
            "stages for the fixture budget)",
            "intermediates <case>.<stage>.frame<f>.<module>...: mask_decoder, memory_attention, object_pointer_proj "
            "always; prompt_encoder only in add_obj* stages; memory_encoder in add_obj* stages and on propagated "
            "frames 0-1; '#callN' = the next object / call in that forward (objects in session order; the memory "
            "encoder runs once per forward, batched over the objects that got a new output)",
            "transformers details the replay must follow: maskmem_features are stored in bfloat16 (rounded after the "
            "memory encoder, used as bf16->fp32 by the memory attention); the memory masks of all objects encoded in "
            "one forward are binarised (logit > 0) when any of them had point/mask inputs on that frame, else "
            "sigmoid; masks of absent objects (object score <= 0) are set to -1024 before the memory encoder; "
            "multimask output for tracked frames and for <= 1 click (multimask_max_pt_num=1); boxes count as 2 "
            "points",
            "transformers vs Meta: (1) a correction click (tv1) is not fed the previous mask logits and the "
            "corrected frame is stored as non-conditioning (Meta: iter_use_prev_mask_pred, "
            "add_all_frames_to_correct_as_cond); (2) when more conditioning frames exist than max_cond_frame_num, "
            "transformers takes object pointers from all conditioning frames at/before the current frame, Meta only "
            "from the selected ones; (3) the memory-mask binarisation above is decided per forward over all objects, "
            "Meta per object call",
            f"{P.name} config: num_maskmem={m['num_maskmem']}, max_cond_frame_num={m['max_cond_frame_num']}, "
            f"max_object_pointers_in_encoder={m['max_object_pointers_in_encoder']}, "
            f"enable_temporal_pos_encoding_for_object_pointers={P.sam21}, enable_occlusion_spatial_embedding="
            f"{P.sam21}; object pointers are not split (tracker width {tv.hidden_dim} = mem_dim {tv.mem_dim})",
        ],
        "inputs": tensor_manifest(tvinputs),
        "outputs": tensor_manifest(tvoutputs),
        "intermediates": tensor_manifest(tvinter),
    }
    return entry, tvoutputs


def run_small(args, tf):
    import torch

    out = args.out
    torch.set_num_threads(args.threads)
    index = {"seed": args.seed, "init": "scaled", "models": {},
             "init_doc": " ".join(randomize_parameters.__doc__.split()),
             "seed_doc": "--seed drives the weights (torch seed+200 for construction buffers, seed+201 for the "
                         "randomisation of Sam2VideoModel; Sam2Model takes its values), the synthetic image and video "
                         "(make_image/make_video) and every prompt (python RNG per use)",
             "config_spec": P.spec(), "variant": P.variant}
    if P is not TINY:
        index["config_vs_tiny"] = compare_with_tiny(P)
    T, H, W = P.video_thw
    S = P.img
    frames = make_video(args.seed, T, H, W)
    video_list = [f.numpy() for f in frames]
    tproc = tf.Sam2VideoProcessor(image_processor=tf.Sam2ImageProcessorFast(size={"height": S, "width": S}),
                                  video_processor=tf.Sam2VideoVideoProcessor(size={"height": S, "width": S}))
    probe = tproc.init_video_session(video=video_list, inference_device="cpu")
    pv = torch.stack([probe.processed_frames[i] for i in range(T)])
    pr = make_tv_prompts(args)

    with Timer(f"{P.name}.sam2_video.build"):
        vcfg, vmodel = build_video_model(args, tf)
    with Timer(f"{P.name}.sam2_video.object_score_probe"):
        sc = run_video_session_probe(tf, vmodel, tproc, video_list, pr)
    lo, hi = float(sc.min()), float(sc.max())
    if hi <= 0.0:
        with torch.no_grad():
            vmodel.mask_decoder.pred_obj_score_head.proj_out.bias.add_(OBJ_SCORE_BIAS_SHIFT)
        shift_note = (f"weights: after the seeded randomisation mask_decoder.pred_obj_score_head.proj_out.bias += "
                      f"{OBJ_SCORE_BIAS_SHIFT}: without it every object-score logit of tv0's prompts and propagation "
                      f"lies in [{lo:.3f}, {hi:.3f}] (all objects 'absent': masks forced to -1024, nothing tracked); "
                      "both checkpoints contain the shifted bias")
        index["object_score_bias_shift"] = OBJ_SCORE_BIAS_SHIFT
    else:
        shift_note = (f"weights: object-score head left as randomised (tv0 probe logits in [{lo:.3f}, {hi:.3f}], "
                      "some objects present)")
        index["object_score_bias_shift"] = 0.0
    index["object_score_probe_range_before_shift"] = [lo, hi]
    index["models"]["sam2_video"] = write_video_folder(args, tf, out, vmodel, frames, pv, shift_note)
    index["models"]["sam2_tracker"] = run_tracker(args, tf, out, vmodel, shift_note)
    tv_entry, tvout = run_tracker_video(args, tf, out, tproc, video_list, pv, pr)
    index["models"]["sam2_tracker_video"] = tv_entry
    all_sc = torch.cat([v.reshape(-1) for k, v in tvout.items() if k.endswith("object_score_logits")])
    index["models"]["sam2_tracker_video"]["object_score_summary"] = {
        "min": float(all_sc.min()), "max": float(all_sc.max()),
        "num_present": int((all_sc > 0).sum()), "num_absent": int((all_sc <= 0).sum()),
        "min_abs": float(all_sc.abs().min())}
    for name in index["models"]:
        d = os.path.join(out, name)
        nb = folder_bytes(d)
        index["models"][name]["folder_bytes_without_index"] = nb
        if nb > MAX_FOLDER_BYTES:
            print(f"WARNING: {d} is {nb} bytes (> {MAX_FOLDER_BYTES})", file=sys.stderr)
    return index


# ----------------------------------------------------------------------------------------
# full (manifests of the released sizes, meta device)
# ----------------------------------------------------------------------------------------
FULL_SIZES = ["hiera_tiny", "hiera_small", "hiera_base_plus", "hiera_large"]


def build_manifest(model):
    import st_io
    import torch

    sd = model.state_dict()
    params = dict(model.named_parameters())
    entries = [{"name": k, "module_name": k, "dtype": st_io._TORCH_TO_ST[v.dtype], "shape": list(v.shape),
                "kind": "parameter" if k in params else "buffer"} for k, v in sorted(sd.items())]
    non_persistent = [{"module_name": k, "dtype": st_io._TORCH_TO_ST[v.dtype], "shape": list(v.shape)}
                      for k, v in sorted(model.named_buffers()) if k not in sd]
    return {"class": type(model).__name__, "num_parameters": sum(p.numel() for p in model.parameters()),
            "num_checkpoint_tensors": len(entries),
            "checkpoint_numel": sum(int(torch.Size(e["shape"]).numel()) for e in entries),
            "tensors": entries, "non_persistent_buffers": non_persistent}


def run_full(args, tf, refshim):
    import importlib

    conv_img = importlib.import_module("transformers.models.sam2.convert_sam2_to_hf")
    conv_vid = importlib.import_module("transformers.models.sam2_video.convert_sam2_video_to_hf")
    out = args.out
    os.makedirs(out, exist_ok=True)
    summary = {}
    for version in ("sam2.1", "sam2"):
        for size in FULL_SIZES:
            name = f"{version}_{size}"  # the converters' model_name
            hub = name.replace("_", "-")  # facebook/<hub> on the Hugging Face hub
            for model_key, conv, M in (("sam2_video", conv_vid, tf.Sam2VideoModel),
                                       ("sam2_tracker", conv_img, tf.Sam2Model)):
                key = f"{hub}.{model_key}"
                with Timer(f"full.{key}"):
                    cfg = conv.get_config(name)
                    cfg._attn_implementation = "eager"
                    with refshim.DeviceMode("meta"):
                        m = M(cfg)
                    man = build_manifest(m)
                with open(os.path.join(out, f"{key}_manifest.json"), "w") as f:
                    json.dump(man, f, indent=1)
                with open(os.path.join(out, f"{key}_config.json"), "w") as f:
                    f.write(m.config.to_json_string())
                summary[key] = {"class": man["class"], "num_parameters": man["num_parameters"],
                                "num_checkpoint_tensors": man["num_checkpoint_tensors"],
                                "checkpoint_numel": man["checkpoint_numel"],
                                "num_non_persistent_buffers": len(man["non_persistent_buffers"]),
                                "converter": f"{conv.__name__}.get_config({name!r})"}
                print(key, summary[key], flush=True)
    return {"models": summary,
            "notes": [
                "configs from transformers' own conversion scripts (convert_sam2_video_to_hf.get_config for "
                "Sam2VideoModel, convert_sam2_to_hf.get_config for Sam2Model, model_name '<version>_hiera_<size>'), "
                "models built under a meta-device TorchFunctionMode: no weights allocated",
                "file names: '<hub name>.<model>_manifest.json' / '_config.json', hub name = facebook/<...> "
                "(sam2.1-hiera-tiny, ...), <model> as the small fixtures' folders: sam2_video = Sam2VideoModel "
                "(model_type sam2_video; the checkpoint layout of the hub repositories, which Sam2Model also loads, "
                "ignoring the memory modules), sam2_tracker = Sam2Model (model_type sam2, as Sam2Model.save_pretrained "
                "writes it)",
                "name = module_name = checkpoint key (transformers has no key conversion for sam2 / sam2_video)",
                "SAM 2.0 vs 2.1 (converter): enable_temporal_pos_encoding_for_object_pointers and "
                "enable_occlusion_spatial_embedding are False for 2.0: no temporal_positional_encoding_projection_layer "
                "and no occlusion_spatial_embedding_parameter in sam2_video; Sam2Model's layout is the same for both "
                "(the converter passes the two flags to Sam2Config as well: they appear in its config.json)",
                "the prompt encoder's random Fourier matrix (prompt_encoder.shared_embedding.positional_embedding) and "
                "shared_image_embedding.positional_embedding are persistent buffers (kind 'buffer') and equal in "
                "converted checkpoints",
            ]}


# ----------------------------------------------------------------------------------------
def write_sums(out, torch):
    files = {}
    for root, _, names in os.walk(out):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, out)
            if rel in ("SHA256SUMS", "timings.json"):
                continue
            files[rel] = (sha256(p), os.path.getsize(p))
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        for rel in sorted(files):
            f.write(f"{files[rel][0]}  {rel}\n")
    with open(os.path.join(out, "timings.json"), "w") as f:
        json.dump({"timings_s": TIMINGS, "torch_threads": torch.get_num_threads(),
                   "sizes_bytes": {k: v[1] for k, v in sorted(files.items())},
                   "total_bytes": sum(v[1] for v in files.values())}, f, indent=1)
    total = sum(v[1] for v in files.values())
    print(f"wrote {len(files)} files to {out} ({total / 1e6:.2f} MB)")


def write_model_indexes(out, index):
    """Each model folder gets its own index.json: its entry of index["models"] plus the run's metadata."""
    meta = {k: v for k, v in index.items() if k != "models"}
    for name, entry in index.get("models", {}).items():
        folder = os.path.join(out, name)
        if os.path.isdir(folder):
            with open(os.path.join(folder, "index.json"), "w") as f:
                json.dump(dict(meta, model=name, **entry), f, indent=1, sort_keys=True)


GENERATED_DIRS = ("sam2_video", "sam2_tracker", "sam2_tracker_video")
GENERATED_TOP = ("index.json", "SHA256SUMS", "timings.json")


def clean_output(out):
    """Remove what an earlier run of this generator wrote into `out` (SHA256SUMS covers the whole folder, so a
    stale or foreign file would end up in it); refuse to run over anything else."""
    import shutil

    for d in GENERATED_DIRS:
        if os.path.isdir(os.path.join(out, d)):
            shutil.rmtree(os.path.join(out, d))
    for n in os.listdir(out):
        if n in GENERATED_TOP or n.endswith("_manifest.json") or n.endswith("_config.json"):
            os.remove(os.path.join(out, n))
    left = os.listdir(out)
    if left:
        raise SystemExit(f"{out} holds files this generator does not write: {left}")


def main():
    global P
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=["tiny", "baseplus", "full"], required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--transformers-src", default=os.environ.get("SAM2_TRANSFORMERS_SRC"),
                    help="directory holding the `transformers` package (default $SAM2_TRANSFORMERS_SRC)")
    ap.add_argument("--transformers-commit", default=os.environ.get("SAM2_TRANSFORMERS_COMMIT", "unknown"),
                    help="recorded in index.json (default $SAM2_TRANSFORMERS_COMMIT)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (bitwise reproducible per count)")
    args = ap.parse_args()
    if not args.transformers_src:
        ap.error("give --transformers-src or set SAM2_TRANSFORMERS_SRC (the directory holding `transformers/`)")
    os.makedirs(args.out, exist_ok=True)
    clean_output(args.out)

    import refshim

    with Timer("import"):
        refshim.install(args.transformers_src)
        import torch
        import transformers as tf

        torch.set_num_threads(args.threads)
        for n in ("Sam2Config", "Sam2Model", "Sam2VideoConfig", "Sam2VideoModel", "Sam2Processor",
                  "Sam2VideoProcessor", "Sam2ImageProcessorFast", "Sam2VideoVideoProcessor"):
            getattr(tf, n)

    if args.config in PROFILES:
        P = PROFILES[args.config]
        index = run_small(args, tf)
    else:
        index = run_full(args, tf, refshim)

    index.update({
        "generator": "tools/refgen/gen_sam2_ref.py",
        "config": args.config,
        "transformers_version": tf.__version__,
        "transformers_commit": args.transformers_commit,
        "transformers_sources_sha256": source_digests(os.path.dirname(os.path.abspath(tf.__file__))),
        "torch_version": torch.__version__,
        "shims": list(refshim.SHIMS_APPLIED),
    })
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    write_model_indexes(args.out, index)
    write_sums(args.out, torch)


if __name__ == "__main__":
    main()
