#include "models/sam3/detector.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include "nn/position_encoding.h"
#include "sam3rt/error.h"

namespace sam3rt::models {

namespace {

// cxcywh -> xyxy on the last axis.
at::Tensor cxcywh_to_xyxy(const at::Tensor& b) {
  at::Tensor cx = b.select(-1, 0), cy = b.select(-1, 1);
  at::Tensor hw = b.select(-1, 2).mul(0.5), hh = b.select(-1, 3).mul(0.5);
  return at::stack({cx.sub(hw), cy.sub(hh), cx.add(hw), cy.add(hh)}, -1);
}

}  // namespace

DetectorImageFeatures encode_detector_image(const Modules& m, const at::Tensor& pixel_values, Trace* trace) {
  SAM3RT_CHECK(m.vision_backbone && m.detector, kUnsupported, "this model has no concept detector");
  DetectorImageFeatures f;
  VitTrace vit_trace;
  f.vit = m.vision_backbone->forward(pixel_values, trace ? &vit_trace : nullptr);  // [B, D, G, G]
  if (trace) record_vit_trace(trace, vit_trace, f.vit);
  f.fpn = m.detector->neck.forward(f.vit);
  const at::Tensor& coarse = f.fpn.back();  // [B, d, G, G]
  f.pos = nn::sine_position_grid(coarse.size(2), coarse.size(3), coarse.size(1), coarse.options());
  // The traced neck includes the 0.5 level that every consumer drops.
  if (trace) record_neck_trace(trace, m.detector->neck.forward(f.vit, /*all_levels=*/true));
  return f;
}

at::Tensor encode_text(const Modules& m, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                       Trace* trace) {
  SAM3RT_CHECK(m.detector, kUnsupported, "this model has no text encoder");
  const TextEncoder& te = m.detector->text_encoder;
  at::Tensor hidden = te.encode(input_ids, attention_mask);  // [B, L, D_text]
  at::Tensor projected = te.project(hidden);                 // [B, L, d]
  record(trace, "text_encoder.last_hidden_state", hidden);
  if (trace) record(trace, "text_encoder.text_embeds", te.clip_text_embeds(hidden, input_ids));
  record(trace, "text_projection", projected);
  return projected;
}

DetectorOutput detect(const Modules& m, const DetectorImageFeatures& image, const DetectorPrompt& prompt,
                      Trace* trace) {
  SAM3RT_CHECK(m.detector, kUnsupported, "this model has no concept detector");
  const DetectorModules& det = *m.detector;
  SAM3RT_CHECK(!image.fpn.empty(), kInvalidArgument, "detector: no image features");
  const at::Tensor& coarse = image.fpn.back();  // [B, d, G, G]
  const int64_t B = coarse.size(0), gh = coarse.size(2), gw = coarse.size(3);

  // Prompts join the image features' device (callers may hand in host tensors).
  at::Tensor text = prompt.text.to(coarse.options()), text_valid = prompt.text_valid.to(coarse.device(), at::kBool);
  SAM3RT_CHECK(text.dim() == 3 && text_valid.dim() == 2 && text.size(1) == text_valid.size(1), kInvalidArgument,
               "detector: text features [B, L, d] and mask [B, L] disagree");
  if (text.size(0) == 1 && B > 1) {
    text = text.expand({B, -1, -1});
    text_valid = text_valid.expand({B, -1});
  }
  SAM3RT_CHECK(text.size(0) == B, kInvalidArgument, "detector: ", text.size(0), " prompts for ", B, " images");

  // Prompt tokens: text, then the geometry encoder's boxes + CLS when it runs.
  at::Tensor tokens = text, valid = text_valid;
  const bool has_boxes = prompt.boxes.defined() && prompt.boxes.size(1) > 0;
  if (has_boxes || prompt.geometry_without_boxes) {
    at::Tensor boxes, labels;
    if (has_boxes) {
      boxes = prompt.boxes.to(coarse.options());
      labels = prompt.box_labels.defined() ? prompt.box_labels.to(coarse.device(), at::kLong)
                                           : at::ones({B, boxes.size(1)}, coarse.options().dtype(at::kLong));
      if (boxes.size(0) == 1 && B > 1) {
        boxes = boxes.expand({B, -1, -1});
        labels = labels.expand({B, -1});
      }
    } else {
      boxes = at::zeros({B, 0, 4}, coarse.options());
      labels = at::zeros({B, 0}, coarse.options().dtype(at::kLong));
    }
    at::Tensor box_valid = labels.ne(-10);
    GeometryPrompt g = det.geometry_encoder.forward(boxes, labels, box_valid, coarse, image.pos);
    record(trace, "geometry_encoder.last_hidden_state", g.features);
    record(trace, "geometry_encoder.attention_mask", g.mask);
    tokens = at::cat({tokens, g.features}, 1);
    valid = at::cat({valid, g.mask.to(at::kBool)}, 1);
  }

  at::Tensor flat = coarse.flatten(2).transpose(1, 2);            // [B, G*G, d]
  at::Tensor pos = image.pos.flatten(2).transpose(1, 2);          // [1, G*G, d]
  std::vector<at::Tensor> encoder_layers;
  at::Tensor memory = det.detr_encoder.forward(flat, pos, tokens, valid, trace ? &encoder_layers : nullptr);
  if (trace) {
    for (size_t i = 0; i < encoder_layers.size(); ++i) {
      record(trace, "detr_encoder.layers." + std::to_string(i), encoder_layers[i]);
    }
    record(trace, "detr_encoder.last_hidden_state", memory);
    record(trace, "detr_encoder.pos_embeds_flattened", pos.expand({B, -1, -1}));
    record(trace, "detr_encoder.text_features", tokens);
    record(trace, "detr_encoder.spatial_shapes",
           at::tensor(std::vector<int64_t>{gh, gw}, at::TensorOptions().dtype(at::kLong)).view({1, 2}));
  }

  DetrDecoderOutput dec = det.detr_decoder.forward(memory, pos, gh, gw, tokens, valid);
  if (trace) {
    for (size_t i = 0; i < dec.layer_states.size(); ++i) {
      record(trace, "detr_decoder.layers." + std::to_string(i), dec.layer_states[i]);
    }
    record(trace, "detr_decoder.intermediate_hidden_states", dec.hidden_states);
    record(trace, "detr_decoder.reference_boxes", dec.reference_boxes);
    record(trace, "detr_decoder.presence_logits", dec.presence_logits);
  }
  const int64_t last = dec.hidden_states.size(0) - 1;
  at::Tensor all_logits = det.scoring.forward(dec.hidden_states, tokens, valid);  // [L, B, Q, 1]
  record(trace, "dot_product_scoring", all_logits);
  SegmentationOutput seg = det.segmentation_head.forward(dec.hidden_states[last], memory, image.fpn, tokens, valid);
  record(trace, "mask_decoder.pixel_decoder", seg.pixel_embed);
  record(trace, "mask_decoder.pred_masks", seg.pred_masks);
  record(trace, "mask_decoder.semantic_seg", seg.semantic_seg);

  DetectorOutput out;
  out.pred_logits = all_logits[last].squeeze(-1);
  out.pred_boxes = cxcywh_to_xyxy(dec.boxes[last]);
  out.presence_logits = dec.presence_logits[last];
  out.pred_masks = seg.pred_masks;
  out.semantic_seg = seg.semantic_seg;
  out.decoder_reference_boxes = dec.reference_boxes;
  return out;
}

}  // namespace sam3rt::models
