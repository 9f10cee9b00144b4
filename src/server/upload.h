// What POST /v1/images does with an upload before the model sees it: finding the image
// bytes in the request and decoding them under the server's limits. Shared by the server
// and fuzz/http_request_fuzz.cpp.
#pragma once

#include <ATen/core/Tensor.h>
#include <httplib.h>

#include <cstdint>
#include <string>

namespace sam3rt::server {

// The image file of an upload, read from the connection through httplib's content reader:
// the body, or the first "image" field of a multipart form. The string is reserved from
// the Content-Length before reading (the connection loop has checked it against the body
// limit), so a request thread holds one copy of the upload, not the up to 2.5 times a
// doubling string would; of a form only the image is kept. Errors: a body that could not
// be read whole (too large when chunked, malformed chunks or form, a client gone) is
// ApiError with the status httplib chose (400 or 413); a form without an "image" field or
// an empty upload is Error(kInvalidArgument).
std::string read_upload(const httplib::Request& req, const httplib::Response& res,
                        const httplib::ContentReader& content);

// Decodes uploaded bytes to RGB uint8 [H, W, 3]. PNG or JPEG only (ApiError 415: their
// headers give the size before decoding, where OpenCV's other readers allocate whatever
// their header says); more than `max_pixels` pixels by the header, before decoding, or by
// the decoded image (ApiError 413); any decoding error is Error(kInvalidArgument).
at::Tensor decode_upload(const std::string& bytes, int64_t max_pixels);

}  // namespace sam3rt::server
