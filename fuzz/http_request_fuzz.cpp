// libFuzzer target: any bytes as one HTTP request to the server, without a model. The
// bytes go where a client's would: the connection loop's head check (refuse_request_head),
// then cpp-httplib's request parser (request line, headers, Content-Length and chunked
// bodies, multipart forms) through the same process_request the server calls, then the
// server's own parsers behind POST /v1/images (read_upload, decode_upload: PNG and JPEG
// under a pixel limit) and POST /v1/images/{id}/segment (parse_segment_request: every
// prompt kind, COCO RLE mask inputs). Invariant: no answer is a 5xx, and every exception
// out of those parsers is sam3rt::Error or ApiError (anything else traps).
#include <ATen/core/Tensor.h>
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "server/api.h"
#include "server/upload.h"

namespace {

using sam3rt::server::ApiError;

constexpr int64_t kMaxPixels = int64_t{1} << 20;
constexpr size_t kMaxBody = size_t{1} << 20;

// The request's bytes in, the answer's bytes out.
class MemoryStream final : public httplib::Stream {
 public:
  MemoryStream(const char* data, size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return pos_ < size_; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, size_ - pos_);
    std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (written_.size() < 4096) written_.append(ptr, std::min<size_t>(size, 4096));
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& written() const { return written_; }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string written_;
};

class Router : public httplib::Server {
 public:
  Router() {
    Post("/v1/images", [](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& content) {
      answer(res, [&] {
        const std::string data = sam3rt::server::read_upload(req, res, content);
        const at::Tensor rgb = sam3rt::server::decode_upload(data, kMaxPixels);
        if (rgb.dim() != 3 || rgb.size(2) != 3 || rgb.size(0) * rgb.size(1) > kMaxPixels) __builtin_trap();
      });
    });
    Post(R"(/v1/images/([^/]+)/segment)", [](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        sam3rt::server::RequestLimits limits;
        limits.max_mask_pixels = kMaxPixels;
        const auto call = sam3rt::server::parse_segment_request(req.body, limits);
        const auto& r = call.request;
        if (r.texts.size() + r.boxes.size() + r.points.size() > limits.max_prompts) __builtin_trap();
        for (const auto& t : r.texts) {
          if (t.size() > limits.max_text_chars) __builtin_trap();
        }
        for (const auto& b : r.boxes) {
          if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2)) {
            __builtin_trap();
          }
        }
        for (const auto& p : r.points) {
          if (!std::isfinite(p.x) || !std::isfinite(p.y)) __builtin_trap();
        }
        if (r.mask_input.defined() && (r.mask_input.dim() != 2 || r.mask_input.numel() > kMaxPixels)) {
          __builtin_trap();
        }
      });
    });
    set_payload_max_length(kMaxBody);
    set_exception_handler([](const httplib::Request&, httplib::Response&, std::exception_ptr) { __builtin_trap(); });
  }
  bool serve(httplib::Stream& s) {
    bool closed = false;
    return process_request(s, true, closed, nullptr);
  }

 private:
  template <typename F>
  static void answer(httplib::Response& res, F&& f) {
    try {
      f();
      res.status = 200;
    } catch (const ApiError& e) {
      res.status = e.status();
    } catch (const sam3rt::Error& e) {
      res.status = sam3rt::server::http_status_for(e.code());
    }  // anything else reaches the exception handler: a finding
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "1048576", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (const size_t end = bytes.find("\r\n\r\n"); end != std::string_view::npos) {
    const std::string refusal = sam3rt::server::refuse_request_head(bytes.substr(0, end + 4), kMaxBody);
    if (!refusal.empty()) {
      if (refusal.rfind("HTTP/1.1 4", 0) != 0) __builtin_trap();
      return 0;
    }
  }
  static Router* router = new Router();  // built once: its routes are immutable
  MemoryStream stream(bytes.data(), bytes.size());
  router->serve(stream);
  const std::string& out = stream.written();
  if (out.size() >= 12 && out.rfind("HTTP/1.1 ", 0) == 0 && out[9] == '5') __builtin_trap();
  return 0;
}
