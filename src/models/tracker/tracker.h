// The SAM-style tracker on single images (architecture §10.1-§10.3; transformers
// Sam3TrackerModel.forward / Sam2Model.forward): frame encoder -> prompt encoder + mask
// decoder, with no memory. One tracker for SAM 3 and SAM 2: it reads its own modules and
// the three levels of whichever FrameEncoder the model family brings.
//
// Use: encode the image once, then predict for any number of prompt sets:
//   TrackerImageFeatures f = encode_tracker_image(*m.tracker, *m.frame_encoder, pixel_values);
//   TrackerPrediction p = predict_tracker(*m.tracker, f, prompts, /*multimask=*/true);
// Thread-safety: plain functions over immutable modules; safe to call concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "models/modules.h"
#include "models/tracker/frame_encoder.h"

namespace sam3rt::models {

struct TrackerImageOptions {
  // Whether no_memory_embedding is added to the decoder's pixel features (neck level G).
  // false (default): transformers, which adds it to the frame encoder's LAST neck level:
  //   level G for SAM 2 (FrameEncoder::image_level_is_last), but for SAM 3 the 0.5x level
  //   of the released scale factors 4, 2, 1, 0.5, which is then dropped, so level G
  //   reaches the decoder WITHOUT it (architecture §14 item 11). The parity fixtures
  //   follow this.
  // true: Meta's original (and transformers' video tracker on an initial conditioning
  //   frame): pixel features = level G + no_memory_embedding.
  bool add_no_memory_embedding = false;
};

// Per-image tracker features; d = tracker width, G = grid side.
struct TrackerImageFeatures {
  std::vector<at::Tensor> levels;  // raw tracker-neck levels [B, d, 4G, 4G], [B, d, 2G, 2G], [B, d, G, G]
  at::Tensor feat_s0;              // [B, d/8, 4G, 4G] mask_decoder.conv_s0(level 0)
  at::Tensor feat_s1;              // [B, d/4, 2G, 2G] mask_decoder.conv_s1(level 1)
  at::Tensor image_embedding;      // [B, d, G, G] the decoder's pixel features (level G, see options)
  at::Tensor image_pe;             // [1, d, G, G] Fourier PE of the grid-cell centres (shared_image_embedding)
};

// pixel_values [B, 3, S, S] (preprocessed, S = image_size) -> features. With `trace`, the
// frame encoder's intermediate results are stored there too.
TrackerImageFeatures encode_tracker_image(const TrackerModules& t, const FrameEncoder& encoder,
                                          const at::Tensor& pixel_values, const TrackerImageOptions& options = {},
                                          Trace* trace = nullptr);

// The same from the three levels `encoder` made (e.g. SAM 3's, from a ViT output shared
// with the detector).
TrackerImageFeatures encode_tracker_levels(const TrackerModules& t, const FrameEncoder& encoder,
                                           std::vector<at::Tensor> levels, const TrackerImageOptions& options = {});

// One prompt set per (image, p): P prompt sets per image are decoded independently.
// Coordinates are in model-input pixels (the S x S canvas the image was resized to).
struct TrackerPrompts {
  at::Tensor points;      // [B, P, N, 2] (x, y), float; undefined = none
  at::Tensor labels;      // [B, P, N] integer: 1 positive, 0 negative, 2/3 box corners,
                          // -1 not-a-point, -10 padding; undefined with points = all 1
  at::Tensor boxes;       // [B, P, 4] x1, y1, x2, y2, float; undefined = none
  at::Tensor mask_input;  // [B, 1, h, w] mask logits (dense prompt); resized to 4G x 4G
                          // (bilinear, antialiased) when h, w differ; undefined = none
};

struct TrackerPrediction {
  at::Tensor masks;                // [B, P, M, 4G, 4G] low-resolution mask logits
  at::Tensor iou_scores;           // [B, P, M] predicted IoU
  at::Tensor object_score_logits;  // [B, P, 1]
  at::Tensor sam_tokens;           // [B, P, M, d] mask tokens of the returned masks
};

// Optional intermediate results of predict_tracker (parity tests and debugging).
struct TrackerPredictTrace {
  PromptEmbeddings prompts;  // sparse [B, P, T, d], dense [B, d, G, G]
  MaskDecoderTrace decoder;
};

// Prompt encoder + mask decoder on encoded features. Without points and boxes, one
// not-a-point prompt is used (P = 1). multimask: M = num_multimask_outputs masks (slots
// 1..M); otherwise M = 1 (slot 0 with the dynamic stability fallback). Prompts are moved
// to the features' device. Mis-shaped prompts are Error(kInvalidArgument).
TrackerPrediction predict_tracker(const TrackerModules& t, const TrackerImageFeatures& features,
                                  const TrackerPrompts& prompts, bool multimask,
                                  TrackerPredictTrace* trace = nullptr);

}  // namespace sam3rt::models
