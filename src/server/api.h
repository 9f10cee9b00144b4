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
#include <string_view>
#include <utility>
#include <vector>

#include "sam3rt/error.h"
#include "sam3rt/options.h"
#include "sam3rt/render.h"
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

// A whole HTTP/1.1 answer carrying error_body, with Connection: close: for the connection
// loop, which answers some requests before httplib sees them.
std::string http_error_response(int status, const std::string& code, const std::string& message);

// Checks a request head (request line and headers, up to the blank line) for what must be
// refused before its body is read: a Content-Length that is not a plain decimal number or
// is given twice with different values (400), one above `max_body_bytes` (413), a
// Transfer-Encoding other than chunked (400). Returns the answer to send, or an empty
// string when the head may go on to httplib.
std::string refuse_request_head(std::string_view head, size_t max_body_bytes);

struct RequestLimits {
  size_t max_prompts = 32;     // texts + boxes + points
  size_t max_text_chars = 256;
  int64_t max_mask_pixels = 40'000'000;  // a mask input's height x width
};

// A parsed POST /v1/images/{id}/segment body: the library's request, and how to render
// its answer.
struct SegmentCall {
  SegmentRequest request;  // mode, prompts, multimask, best, threshold / nms / max_instances
  JsonOptions json;        // "png" -> mask_png, "overlay", "timings"
};

// Parses a segment body. Unknown keys, wrong types, non-finite or out-of-range numbers
// and malformed JSON are Error(kInvalidArgument) naming the key; more prompts or longer
// texts than the limits too. Whether the prompts make sense together and fit the image
// is ImageSession::run's to say (the same rules as `sam3rt segment`).
SegmentCall parse_segment_request(const std::string& body, const RequestLimits& limits);

}  // namespace sam3rt::server
