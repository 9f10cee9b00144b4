// What POST /v1/images does with an upload before the model sees it: finding the image
// bytes in the request and decoding them under the server's limits. Shared by the server
// and fuzz/http_request_fuzz.cpp.
#pragma once

#include <ATen/core/Tensor.h>
#include <httplib.h>

#include <cstdint>
#include <string>

namespace sam3rt::server {

// The image file of an upload: the body, or the "image" field of a multipart form.
// Error(kInvalidArgument) for a form without that field or an empty upload.
const std::string& upload_bytes(const httplib::Request& req);

// Decodes uploaded bytes to RGB uint8 [H, W, 3]. PNG or JPEG only (ApiError 415: their
// headers give the size before decoding, where OpenCV's other readers allocate whatever
// their header says); more than `max_pixels` pixels by the header, before decoding, or by
// the decoded image (ApiError 413); any decoding error is Error(kInvalidArgument).
at::Tensor decode_upload(const std::string& bytes, int64_t max_pixels);

}  // namespace sam3rt::server
