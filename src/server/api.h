// The JSON side of the server, free of HTTP: request parsing with limits, the mapping of
// errors to HTTP statuses, and the response bodies. Plain functions, no shared state.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "render/result_json.h"
#include "sam3rt/error.h"
#include "sam3rt/options.h"
#include "sam3rt/types.h"

namespace sam3rt::server {

// An error with an explicit HTTP status (limits: 413 for a body or image too large).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }

 private:
  int status_;
  std::string code_;
};

// kInvalidArgument -> 400, kNotFound -> 404, kUnsupported -> 422, anything else -> 500.
int http_status_for(ErrorCode code);

// {"error": {"status": 400, "code": "invalid argument", "message": "..."}}
std::string error_body(int status, const std::string& code, const std::string& message);

struct RequestLimits {
  size_t max_prompts = 32;     // texts + boxes + points
  size_t max_text_chars = 256;
};

// A parsed POST /v1/images/{id}/segment body.
struct SegmentRequest {
  std::string mode;                // "concept" or "object" (resolved as the CLI does)
  std::vector<std::string> texts;  // concept mode: one prompt per text
  std::vector<Box> boxes;          // concept: exemplars; object: the box (at most one)
  std::vector<Point> points;       // object mode
  at::Tensor mask_input;           // object mode: [H, W] bool from a COCO RLE, or undefined
  // Object mode: three candidates or one. Unset = as `sam3rt segment`: three for a
  // single click without a box, else one.
  std::optional<bool> multimask;
  bool best = false;               // object mode: keep only the candidate with the top IoU
  SegmentOptions options;          // threshold, nms, max_instances (concept mode)
  bool png = false;                // add "mask_png" (base64 PNG) to every instance
  bool overlay = false;            // add "overlay_png" (base64 PNG of the drawn overlay)
};

// Parses and validates a segment request. Mode resolution follows `sam3rt segment`:
// points or mask_input -> object; texts -> concept; boxes alone are ambiguous (kInvalidArgument naming
// "mode"); no prompt at all is kInvalidArgument. Unknown keys, wrong types and malformed
// JSON are kInvalidArgument naming the key; more prompts than the limit is 400 too.
// Boxes and points are checked against the image size (width, height).
SegmentRequest parse_segment_request(const std::string& body, int64_t width, int64_t height,
                                     const RequestLimits& limits);

// Concept prompts of a concept-mode request (one per text, or one exemplar-only prompt).
std::vector<ConceptPrompt> concept_prompts(const SegmentRequest& request);

// The ObjectPrompt of an object-mode request, with the multimask default applied.
ObjectPrompt object_prompt(const SegmentRequest& request);

// An object-mode answer as instances (candidates by IoU, highest first; only the best
// with best_only), for overlays and mask PNGs, and its JSON in the form of the
// result.json `sam3rt segment --mode object` writes: every instance with "iou",
// "object_score", "candidate" (the decoder's slot) and "best" in place of "score" and
// "presence", and the prompt echoed under "prompt".
using ObjectAnswer = render::ObjectResultJson;
ObjectAnswer object_answer(const ObjectResult& result, const ObjectPrompt& prompt, bool best_only);

// Merges per-prompt results into one, instances sorted by score (as `sam3rt segment`
// does: the vision-encoder time counted once).
SegmentResult merge_results(std::vector<SegmentResult> results);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const uint8_t* data, size_t size);

// Width and height read from a PNG (IHDR) or JPEG (SOFn) header without decoding, or
// nullopt for other or unreadable data. Used to refuse huge images before decoding.
std::optional<std::pair<int64_t, int64_t>> probe_image_size(const uint8_t* data, size_t size);

}  // namespace sam3rt::server
