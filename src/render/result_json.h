// result.json of `sam3rt segment`: image size, one entry per instance (prompt, score,
// presence, pixel box x1,y1,x2,y2, area, COCO RLE mask) and per-stage timings.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "sam3rt/types.h"

namespace sam3rt::render {

// The JSON text (pretty-printed, 2-space indent). `extra` is merged into the top level
// (e.g. {"model": ..., "note": ...}) when non-empty; it must be a JSON object text.
std::string result_json(const SegmentResult& result, const std::string& extra = "");

// Object mode (the tracker's candidates), shared by `sam3rt segment --mode object` and the
// server: the candidates by IoU, highest first (only the best with best_only), as
// instances for overlays and mask PNGs (prompt "object", score = IoU, presence = object
// score), and result.json's layout for them with "iou", "object_score", "candidate" (the
// decoder's slot) and "best" in place of "score" and "presence", plus "mode": "object".
struct ObjectResultJson {
  SegmentResult instances;
  nlohmann::ordered_json json;
};
ObjectResultJson object_result_json(const ObjectResult& result, bool best_only);

// The prompt echoed under "prompt": points, box, `mask_input` when not null (how the
// caller was given it), multimask.
nlohmann::ordered_json object_prompt_json(const ObjectPrompt& prompt, const nlohmann::ordered_json& mask_input);

}  // namespace sam3rt::render
