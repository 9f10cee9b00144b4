// result.json of `sam3rt segment`: image size, one entry per instance (prompt, score,
// presence, pixel box x1,y1,x2,y2, area, COCO RLE mask) and per-stage timings.
#pragma once

#include <string>

#include "sam3rt/types.h"

namespace sam3rt::render {

// The JSON text (pretty-printed, 2-space indent). `extra` is merged into the top level
// (e.g. {"model": ..., "note": ...}) when non-empty; it must be a JSON object text.
std::string result_json(const SegmentResult& result, const std::string& extra = "");

}  // namespace sam3rt::render
