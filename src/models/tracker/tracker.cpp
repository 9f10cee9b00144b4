#include "models/tracker/tracker.h"

#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <string>
#include <utility>

#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

std::string shape_str(const at::Tensor& t) {
  if (!t.defined()) return "none";
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

}  // namespace

TrackerImageFeatures encode_tracker_image(const TrackerModules& t, const FrameEncoder& encoder,
                                          const at::Tensor& pixel_values, const TrackerImageOptions& options,
                                          Trace* trace) {
  return encode_tracker_levels(t, encoder, encoder.encode(pixel_values, trace), options);
}

TrackerImageFeatures encode_tracker_levels(const TrackerModules& t, const FrameEncoder& encoder,
                                           std::vector<at::Tensor> levels, const TrackerImageOptions& options) {
  const TrackerConfig& c = t.config;
  SAM3RT_CHECK(levels.size() == 3, kUnsupported, "the tracker needs three neck levels (4x, 2x, 1x), got ",
               levels.size());
  const int64_t d = c.mask_decoder.hidden_size;
  const int64_t G = levels[2].size(-1);
  SAM3RT_CHECK(levels[2].dim() == 4 && levels[2].size(1) == d && levels[2].size(2) == G &&
                   levels[0].dim() == 4 && levels[0].size(2) == 4 * G && levels[1].dim() == 4 &&
                   levels[1].size(2) == 2 * G,
               kInvalidArgument, "tracker neck levels ", shape_str(levels[0]), ", ", shape_str(levels[1]), ", ",
               shape_str(levels[2]), " are not [B, ", d, ", 4G/2G/G, ...]");
  SAM3RT_CHECK(G == t.prompt_encoder.grid(), kInvalidArgument, "tracker image grid ", G,
               " does not match the prompt encoder's ", t.prompt_encoder.grid());

  TrackerImageFeatures f;
  f.feat_s0 = t.mask_decoder.conv_s0(levels[0]);  // [B, d/8, 4G, 4G]
  f.feat_s1 = t.mask_decoder.conv_s1(levels[1]);  // [B, d/4, 2G, 2G]
  // transformers adds no_memory_embedding to the last neck level (see TrackerImageOptions).
  const bool add = options.add_no_memory_embedding || encoder.image_level_is_last();
  f.image_embedding = add ? levels[2].add(t.no_memory_embedding.view({1, d, 1, 1})) : levels[2];  // [B, d, G, G]
  f.image_pe = t.shared_image_embedding.grid(G, G).to(levels[2].device());                          // [1, d, G, G]
  f.levels = std::move(levels);
  return f;
}

TrackerPrediction predict_tracker(const TrackerModules& t, const TrackerImageFeatures& f, const TrackerPrompts& prompts,
                                  bool multimask, TrackerPredictTrace* trace) {
  SAM3RT_CHECK(f.image_embedding.defined() && f.image_embedding.dim() == 4, kInvalidArgument,
               "tracker features are not encoded");
  const int64_t B = f.image_embedding.size(0);
  const int64_t G = t.prompt_encoder.grid();
  const auto device = f.image_embedding.device();
  const auto fopts = f.image_embedding.options();

  at::Tensor points = prompts.points.defined() ? prompts.points.to(fopts) : at::Tensor();
  at::Tensor labels = prompts.labels.defined() ? prompts.labels.to(device) : at::Tensor();
  at::Tensor boxes = prompts.boxes.defined() ? prompts.boxes.to(fopts) : at::Tensor();
  at::Tensor mask = prompts.mask_input.defined() ? prompts.mask_input.to(fopts) : at::Tensor();
  SAM3RT_CHECK(!labels.defined() || points.defined(), kInvalidArgument, "tracker point labels without points");
  if (points.defined()) {
    SAM3RT_CHECK(points.dim() == 4 && points.size(0) == B, kInvalidArgument, "tracker points must be [", B,
                 ", P, N, 2], got ", shape_str(points));
    if (!labels.defined()) labels = at::ones({points.size(0), points.size(1), points.size(2)}, fopts.dtype(at::kLong));
  }
  if (boxes.defined()) {
    SAM3RT_CHECK(boxes.dim() == 3 && boxes.size(0) == B, kInvalidArgument, "tracker boxes must be [", B,
                 ", P, 4], got ", shape_str(boxes));
  }
  if (!points.defined() && !boxes.defined()) {  // no sparse prompt: one not-a-point
    points = at::zeros({B, 1, 1, 2}, fopts);
    labels = at::full({B, 1, 1}, -1, fopts.dtype(at::kLong));
  }
  if (mask.defined()) {
    SAM3RT_CHECK(mask.dim() == 4 && mask.size(0) == B && mask.size(1) == 1 && mask.size(2) > 0 && mask.size(3) > 0,
                 kInvalidArgument, "tracker mask input must be [", B, ", 1, H, W], got ", shape_str(mask));
    if (mask.size(2) != 4 * G || mask.size(3) != 4 * G) {
      mask = at::_upsample_bilinear2d_aa(mask, {4 * G, 4 * G}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
    }
  }

  const PromptEmbeddings pe = t.prompt_encoder.forward(points, labels, boxes, mask);
  const MaskDecoderOutput d = t.mask_decoder.forward(f.image_embedding, f.image_pe, pe.sparse, pe.dense, multimask,
                                                     f.feat_s0, f.feat_s1, trace ? &trace->decoder : nullptr);
  if (trace) trace->prompts = pe;
  TrackerPrediction out;
  out.masks = d.masks;
  out.iou_scores = d.iou_scores;
  out.object_score_logits = d.object_score_logits;
  out.sam_tokens = d.sam_tokens;
  return out;
}

}  // namespace sam3rt::models
