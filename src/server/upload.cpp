#include "upload.h"

#include "api.h"
#include "sam3rt/error.h"
#include "sam3rt/image.h"

namespace sam3rt::server {

std::string read_upload(const httplib::Request& req, const httplib::Response& res,
                        const httplib::ContentReader& content) {
  std::string data;
  // The head check refused a Content-Length that is not a number or above the limit.
  const std::string length = req.get_header_value("Content-Length");
  if (!length.empty() && length.size() <= 19 && length.find_first_not_of("0123456789") == std::string::npos) {
    data.reserve(std::stoull(length));
  }
  bool complete = false;
  bool found = false;
  if (req.is_multipart_form_data()) {
    bool in_image = false;
    complete = content(
        [&](const httplib::MultipartFormData& field) {
          in_image = !found && field.name == "image";
          found = found || in_image;
          return true;
        },
        [&](const char* bytes, size_t n) {
          if (in_image) data.append(bytes, n);
          return true;
        });
  } else {
    found = true;
    complete = content([&](const char* bytes, size_t n) {
      data.append(bytes, n);
      return true;
    });
  }
  if (!complete) {
    const bool too_large = res.status == 413;
    throw ApiError(too_large ? 413 : 400, too_large ? "payload too large" : "bad request",
                   too_large ? "the request body is larger than the server's limit"
                             : "the request body could not be read whole (malformed or cut short)");
  }
  SAM3RT_CHECK(found, kInvalidArgument, "multipart upload needs a field named \"image\" holding the image file");
  SAM3RT_CHECK(!data.empty(), kInvalidArgument, "empty upload: send the image bytes (JPEG or PNG) as the body");
  return data;
}

at::Tensor decode_upload(const std::string& bytes, int64_t max_pixels) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const bool png = bytes.size() >= 4 && bytes.compare(0, 4, "\x89PNG") == 0;
  const bool jpeg = bytes.size() >= 2 && data[0] == 0xff && data[1] == 0xd8;
  if (!png && !jpeg) {
    throw ApiError(415, "unsupported media type", "uploads must be PNG or JPEG files; these bytes are neither");
  }
  const auto refuse_if_too_many = [&](int64_t w, int64_t h) {
    if (w > 0 && h > max_pixels / w) {  // w * h > max_pixels without overflow: a header may claim 2^32 x 2^32
      throw ApiError(413, "payload too large",
                     "image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; the limit is " +
                         std::to_string(max_pixels) + " pixels");
    }
  };
  if (auto size = probe_image_size(data, bytes.size())) refuse_if_too_many(size->first, size->second);
  at::Tensor rgb;
  try {
    rgb = decode_image(data, bytes.size(), "uploaded image", max_pixels);
  } catch (const Error& e) {
    // A bad upload is the client's mistake, whatever the decoder calls it.
    if (e.code() == ErrorCode::kUnsupported) throw ApiError(413, "payload too large", e.what());  // the limit
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
  refuse_if_too_many(rgb.size(1), rgb.size(0));
  return rgb;
}

}  // namespace sam3rt::server
