// Parity checking of text-prompted video against a sam3_video reference dump (the part of
// `sam3rt verify` for index.json "model": "sam3_video").
//
// The folder holds config.json, model.safetensors and reference_inputs (video.pixel_values,
// video.frames_uint8_thwc, prompt.input_ids, prompt.attention_mask). Every case of
// index.json runs in its own TextVideoSession with transformers' semantics
// (TextVideoOptions::transformers()): the detector query is text-only, or one padding box
// per detector call when the case's name or description mentions it ("padbox", "padding
// box"). The session propagates from frame 0 over the whole video; each yielded frame's
// outputs "<case>.frame<f>.{object_ids, mask_obj_ids, masks_low_res, score_obj_ids,
// scores, tracker_score_obj_ids, tracker_scores, removed_obj_ids, suppressed_obj_ids,
// post.object_ids, post.scores, post.boxes, post.masks}", "<case>.yield_order", and each
// processed frame's intermediates ("detector_model.*", "tracker_model.{memory_attention,
// mask_decoder, memory_encoder}[#call<k>]") are compared. Ids and yield order must match
// exactly; everything else within options.tolerance (rel-L2).
//
// Wiring (verify.cpp): for model "sam3_video" call
//   verify_text_video(dir, options, push_result_and_notify, record_skip);
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>

#include "models/video/text_video.h"
#include "pipeline/verify.h"

namespace sam3rt::pipeline {

// on_result gets each comparison as it is made; on_skip names each reference tensor or
// case that is not checked, with the reason. Throws Error(kNotFound) when the checkpoint or
// the inputs cannot be found, Error(kCorruption) for a malformed fixture.
void verify_text_video(const std::string& dir, const VerifyOptions& options,
                       const std::function<void(const TensorComparison&)>& on_result,
                       const std::function<void(const std::string&)>& on_skip);

// The intermediates of one processed frame under the reference's names (relative to
// "<case>.frame<f>."): the first prompt's detector outputs "detector_model.<output>" and
// "detector_model.geometry_encoder.*", and per tracker module call
// "tracker_model.<module>" for the first call in the frame, "tracker_model.<module>#call<k>"
// for the k-th further one (mask_decoder.0-3 = masks, IoU scores, SAM tokens, object score
// logits; memory_encoder.0-1 = features, position encoding).
std::map<std::string, at::Tensor> text_video_trace_names(const models::TextVideoTrace& trace);

}  // namespace sam3rt::pipeline
