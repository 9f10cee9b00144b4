#include "api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>


namespace sam3rt::server {

using nlohmann::json;

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kUnsupported: return 422;
    default: return 500;
  }
}

std::string error_body(int status, const std::string& code, const std::string& message) {
  nlohmann::ordered_json j;
  j["error"] = {{"status", status}, {"code", code}, {"message", message}};
  // Messages may quote client input: replace invalid UTF-8 rather than throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string http_error_response(int status, const std::string& code, const std::string& message) {
  const char* reason = "Error";
  switch (status) {
    case 400: reason = "Bad Request"; break;
    case 408: reason = "Request Timeout"; break;
    case 413: reason = "Payload Too Large"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 503: reason = "Service Unavailable"; break;
    default: break;
  }
  const std::string body = error_body(status, code, message);
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string refuse_request_head(std::string_view head, size_t max_body_bytes) {
  const auto lower = [](std::string_view v) {
    std::string out(v);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return v;
  };
  std::optional<uint64_t> length;
  size_t pos = head.find('\n');  // past the request line
  while (pos != std::string_view::npos && pos + 1 < head.size()) {
    const size_t start = pos + 1;
    const size_t end = head.find('\n', start);
    const std::string_view line = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    pos = end;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // httplib's to judge
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      const bool digits = !value.empty() && value.size() <= 19 &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) {
        return http_error_response(400, "bad request",
                                   "Content-Length must be a decimal number of bytes, got '" +
                                       std::string(value.substr(0, 40)) + "'");
      }
      const uint64_t v = std::stoull(std::string(value));
      if (length && *length != v) return http_error_response(400, "bad request", "two different Content-Length headers");
      length = v;
      if (v > max_body_bytes) {
        return http_error_response(413, "payload too large",
                                   "request body too large: " + std::to_string(v) + " bytes; the limit is " +
                                       std::to_string(max_body_bytes) + " bytes");
      }
    } else if (name == "transfer-encoding" && lower(value) != "chunked") {
      return http_error_response(400, "bad request",
                                 "unsupported Transfer-Encoding '" + std::string(value.substr(0, 40)) + "'");
    }
  }
  return {};
}

namespace {

[[noreturn]] void bad(const std::string& message) { SAM3RT_FAIL(kInvalidArgument, message); }

double number_field(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(where + ": missing \"" + key + "\"");
  if (!it->is_number()) bad(where + ": \"" + key + "\" must be a number");
  const double v = it->get<double>();
  // Finite as the float it becomes (1e39 is a finite double but an infinite float).
  if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
    bad(where + ": \"" + key + "\" must be a finite number");
  }
  return v;
}

bool label_field(const json& obj, const std::string& where) {
  auto it = obj.find("label");
  if (it == obj.end()) return true;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number_integer() && (it->get<int64_t>() == 0 || it->get<int64_t>() == 1)) return it->get<int64_t>() == 1;
  bad(where + ": \"label\" must be 1 (positive) or 0 (negative)");
}

void check_keys(const json& obj, const std::set<std::string>& allowed, const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) bad(where + ": unknown key \"" + it.key() + "\"");
  }
}

bool bool_field(const json& root, const char* key, bool fallback) {
  auto it = root.find(key);
  if (it == root.end()) return fallback;
  if (!it->is_boolean()) bad(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

}  // namespace

SegmentCall parse_segment_request(const std::string& body, const RequestLimits& limits) {
  json root;
  try {
    root = json::parse(body);
  } catch (const json::exception& e) {  // syntax, and numbers beyond double's range (1e400)
    bad(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) bad("request body must be a JSON object");
  check_keys(root,
             {"mode", "text", "boxes", "points", "mask_input", "multimask", "best", "threshold", "nms", "max_instances",
              "png", "overlay", "timings"},
             "request");
  SegmentCall call;
  SegmentRequest& r = call.request;

  if (auto it = root.find("mode"); it != root.end()) {
    if (!it->is_string()) bad("\"mode\" must be \"concept\" or \"object\"");
    r.mode = it->get<std::string>();
  }
  if (auto it = root.find("text"); it != root.end()) {
    if (it->is_string()) {
      r.texts.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& t : *it) {
        if (!t.is_string()) bad("\"text\" must be a string or an array of strings");
        r.texts.push_back(t.get<std::string>());
      }
    } else {
      bad("\"text\" must be a string or an array of strings");
    }
  }
  const auto count = [&](const char* key) -> size_t {
    auto it = root.find(key);
    if (it == root.end()) return 0;
    if (!it->is_array()) bad(std::string("\"") + key + "\" must be an array");
    return it->size();
  };
  const size_t total = r.texts.size() + count("boxes") + count("points");
  if (total > limits.max_prompts) {
    bad("too many prompts: " + std::to_string(total) + " texts, boxes and points (the limit is " +
        std::to_string(limits.max_prompts) + ")");
  }
  for (size_t i = 0; i < r.texts.size(); ++i) {
    if (r.texts[i].size() > limits.max_text_chars) {
      bad("text " + std::to_string(i + 1) + " has " + std::to_string(r.texts[i].size()) + " bytes (the limit is " +
          std::to_string(limits.max_text_chars) + ")");
    }
  }
  if (auto it = root.find("boxes"); it != root.end()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& b = (*it)[i];
      const std::string where = "box " + std::to_string(i + 1);
      if (!b.is_object()) bad(where + " must be an object {\"x1\", \"y1\", \"x2\", \"y2\", \"label\"}");
      check_keys(b, {"x1", "y1", "x2", "y2", "label"}, where);
      r.boxes.push_back(Box{static_cast<float>(number_field(b, "x1", where)),
                            static_cast<float>(number_field(b, "y1", where)),
                            static_cast<float>(number_field(b, "x2", where)),
                            static_cast<float>(number_field(b, "y2", where)), label_field(b, where)});
    }
  }
  if (auto it = root.find("points"); it != root.end()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& p = (*it)[i];
      const std::string where = "point " + std::to_string(i + 1);
      if (!p.is_object()) bad(where + " must be an object {\"x\", \"y\", \"label\"}");
      check_keys(p, {"x", "y", "label"}, where);
      r.points.push_back(Point{static_cast<float>(number_field(p, "x", where)),
                               static_cast<float>(number_field(p, "y", where)), label_field(p, where)});
    }
  }
  if (auto it = root.find("mask_input"); it != root.end()) {
    const std::string where = "\"mask_input\"";
    if (!it->is_object() || !it->contains("size") || !it->contains("counts") || !(*it)["size"].is_array() ||
        (*it)["size"].size() != 2 || !(*it)["size"][0].is_number_unsigned() ||
        !(*it)["size"][1].is_number_unsigned() || !(*it)["counts"].is_string()) {
      bad(where + " must be a COCO RLE {\"size\": [height, width], \"counts\": \"...\"}");
    }
    const int64_t h = (*it)["size"][0].get<int64_t>(), w = (*it)["size"][1].get<int64_t>();
    if (h <= 0 || w <= 0 || h > limits.max_mask_pixels / w) {
      bad(where + ": size must be positive and at most " + std::to_string(limits.max_mask_pixels) + " pixels");
    }
    try {
      r.mask_input = decode_coco_rle({h, w, (*it)["counts"].get<std::string>()});
    } catch (const Error& e) {
      bad(where + ": " + e.what());
    }
  }
  if (auto it = root.find("multimask"); it != root.end()) {
    if (!it->is_boolean()) bad("\"multimask\" must be true or false");
    r.multimask = it->get<bool>();
  }
  r.best = bool_field(root, "best", false);
  call.json.mask_png = bool_field(root, "png", false);
  call.json.overlay = bool_field(root, "overlay", false);
  call.json.timings = bool_field(root, "timings", true);
  if (auto it = root.find("threshold"); it != root.end()) {
    if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= 1)) bad("\"threshold\" must be in [0, 1]");
    r.options.score_threshold = it->get<float>();
  }
  if (auto it = root.find("nms"); it != root.end() && !it->is_null()) {
    if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= 1)) bad("\"nms\" must be in [0, 1]");
    r.options.nms = true;
    r.options.nms_iou = it->get<float>();
  }
  if (auto it = root.find("max_instances"); it != root.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 10000) {
      bad("\"max_instances\" must be an integer in [0, 10000] (0 = no limit)");
    }
    r.options.max_instances = it->get<int>();
  }
  return call;
}

}  // namespace sam3rt::server
