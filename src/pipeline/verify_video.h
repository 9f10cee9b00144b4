// Parity checking of the video tracker against a sam3_tracker_video reference dump (the
// part of `sam3rt verify` for index.json "model": "sam3_tracker_video").
//
// Such a folder has no checkpoint of its own: index.json's "checkpoint" names the sibling
// sam3_video folder, whose config.json, model.safetensors and reference_inputs
// (video.pixel_values, video.frames_uint8_thwc) are used. The cases run in index.json's
// order in ONE tracker session, as the reference did: per case, the stages "add_obj<k>"
// (obj<k>'s prompts "obj<k>.frame<f>.point_coords_model / point_labels_model" added, then
// frame f tracked) and then "propagate" (every prompt not used yet added as a correction,
// clear_old = false, then the recorded frames tracked in order). Every recorded output
// ("<case>.<stage>.frame<f>.{object_ids, pred_masks, object_score_logits,
// video_res_mask_logits}") and intermediate (prompt_encoder, mask_decoder,
// memory_attention, object_pointer_proj, memory_encoder, "#call<k>" for the k-th call in
// that frame) is compared.
//
// Wiring (verify.cpp): for model "sam3_tracker_video" call
//   verify_tracker_video(dir, options, push_result_and_notify, record_skip);
#pragma once

#include <functional>
#include <string>

#include "pipeline/verify.h"

namespace sam3rt::pipeline {

// on_result gets each comparison as it is made (tolerance = options.tolerance; object ids
// must match exactly); on_skip names each reference tensor or stage that is not checked,
// with the reason. Throws Error(kNotFound) when the checkpoint or the frames cannot be
// found, Error(kCorruption) for a malformed fixture.
void verify_tracker_video(const std::string& dir, const VerifyOptions& options,
                          const std::function<void(const TensorComparison&)>& on_result,
                          const std::function<void(const std::string&)>& on_skip);

}  // namespace sam3rt::pipeline
