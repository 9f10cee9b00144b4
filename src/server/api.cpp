#include "server/api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "render/coco_rle.h"
#include "render/result_json.h"

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

namespace {

[[noreturn]] void bad(const std::string& message) { SAM3RT_FAIL(kInvalidArgument, message); }

double number_field(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(where + ": missing \"" + key + "\"");
  if (!it->is_number()) bad(where + ": \"" + key + "\" must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) bad(where + ": \"" + key + "\" must be finite");
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

SegmentRequest parse_segment_request(const std::string& body, int64_t width, int64_t height,
                                     const RequestLimits& limits) {
  json root;
  try {
    root = json::parse(body);
  } catch (const json::parse_error& e) {
    bad(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) bad("request body must be a JSON object");
  check_keys(root,
             {"mode", "text", "boxes", "points", "mask_input", "multimask", "best", "threshold", "nms", "max_instances",
              "png", "overlay"},
             "request");
  SegmentRequest r;

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
    const std::string& t = r.texts[i];
    if (t.empty()) bad("text " + std::to_string(i + 1) + " is empty");
    if (t.size() > limits.max_text_chars) {
      bad("text " + std::to_string(i + 1) + " has " + std::to_string(t.size()) + " bytes (the limit is " +
          std::to_string(limits.max_text_chars) + ")");
    }
  }

  if (auto it = root.find("boxes"); it != root.end()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& b = (*it)[i];
      const std::string where = "box " + std::to_string(i + 1);
      if (!b.is_object()) bad(where + " must be an object {\"x1\", \"y1\", \"x2\", \"y2\", \"label\"}");
      check_keys(b, {"x1", "y1", "x2", "y2", "label"}, where);
      Box box;
      box.x1 = static_cast<float>(number_field(b, "x1", where));
      box.y1 = static_cast<float>(number_field(b, "y1", where));
      box.x2 = static_cast<float>(number_field(b, "x2", where));
      box.y2 = static_cast<float>(number_field(b, "y2", where));
      box.positive = label_field(b, where);
      if (!(box.x2 > box.x1 && box.y2 > box.y1)) bad(where + " needs x2 > x1 and y2 > y1");
      if (box.x1 < 0 || box.y1 < 0 || box.x2 > width || box.y2 > height) {
        bad(where + " lies outside the " + std::to_string(width) + "x" + std::to_string(height) + " image");
      }
      r.boxes.push_back(box);
    }
  }
  if (auto it = root.find("points"); it != root.end()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& p = (*it)[i];
      const std::string where = "point " + std::to_string(i + 1);
      if (!p.is_object()) bad(where + " must be an object {\"x\", \"y\", \"label\"}");
      check_keys(p, {"x", "y", "label"}, where);
      Point pt;
      pt.x = static_cast<float>(number_field(p, "x", where));
      pt.y = static_cast<float>(number_field(p, "y", where));
      pt.positive = label_field(p, where);
      if (pt.x < 0 || pt.y < 0 || pt.x > width || pt.y > height) {
        bad(where + " lies outside the " + std::to_string(width) + "x" + std::to_string(height) + " image");
      }
      r.points.push_back(pt);
    }
  }

  if (auto it = root.find("mask_input"); it != root.end()) {
    const std::string where = "\"mask_input\"";
    if (!it->is_object() || !it->contains("size") || !it->contains("counts") || !(*it)["size"].is_array() ||
        (*it)["size"].size() != 2 || !(*it)["size"][0].is_number_integer() || !(*it)["size"][1].is_number_integer() ||
        !(*it)["counts"].is_string()) {
      bad(where + " must be a COCO RLE {\"size\": [height, width], \"counts\": \"...\"}");
    }
    const int64_t h = (*it)["size"][0].get<int64_t>(), w = (*it)["size"][1].get<int64_t>();
    if (h != height || w != width) {
      bad(where + " is " + std::to_string(w) + "x" + std::to_string(h) + " but the image is " + std::to_string(width) +
          "x" + std::to_string(height));
    }
    try {
      r.mask_input = render::decode_coco_rle({h, w, (*it)["counts"].get<std::string>()});
    } catch (const Error& e) {
      bad(where + ": " + e.what());
    }
  }
  if (auto it = root.find("multimask"); it != root.end()) {
    if (!it->is_boolean()) bad("\"multimask\" must be true or false");
    r.multimask = it->get<bool>();
  }
  r.best = bool_field(root, "best", false);
  r.png = bool_field(root, "png", false);
  r.overlay = bool_field(root, "overlay", false);
  if (auto it = root.find("threshold"); it != root.end()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) bad("\"threshold\" must be in [0, 1]");
    r.options.score_threshold = it->get<float>();
  }
  if (auto it = root.find("nms"); it != root.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1) bad("\"nms\" must be in [0, 1]");
    r.options.nms = true;
    r.options.nms_iou = it->get<float>();
  }
  if (auto it = root.find("max_instances"); it != root.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 10000) {
      bad("\"max_instances\" must be an integer in [0, 10000] (0 = no limit)");
    }
    r.options.max_instances = it->get<int>();
  }

  // Mode: explicit, or resolved the way `sam3rt segment` resolves it.
  if (auto it = root.find("mode"); it != root.end()) {
    if (!it->is_string()) bad("\"mode\" must be \"concept\" or \"object\"");
    r.mode = it->get<std::string>();
    if (r.mode != "concept" && r.mode != "object") bad("\"mode\" must be \"concept\" or \"object\", not \"" + r.mode + "\"");
  } else if (!r.points.empty() || r.mask_input.defined()) {
    r.mode = "object";
  } else if (!r.texts.empty()) {
    r.mode = "concept";
  } else if (!r.boxes.empty()) {
    bad("boxes alone are ambiguous: add \"mode\": \"concept\" (find every instance like the exemplar boxes) or "
        "\"mode\": \"object\" (segment the one object in the box)");
  } else {
    bad("no prompt: give \"text\", \"boxes\" or \"points\"");
  }

  if (r.mode == "concept") {
    if (!r.points.empty()) bad("\"points\" belong to \"mode\": \"object\"");
    if (r.mask_input.defined()) bad("\"mask_input\" belongs to \"mode\": \"object\"");
    if (r.texts.empty() && r.boxes.empty()) bad("concept mode needs \"text\" and/or \"boxes\"");
    if (!r.boxes.empty() && r.texts.size() > 1) {
      bad("exemplar boxes go with a single text (got " + std::to_string(r.texts.size()) + ")");
    }
  } else {
    if (!r.texts.empty()) bad("\"text\" belongs to \"mode\": \"concept\"");
    if (r.points.empty() && r.boxes.empty() && !r.mask_input.defined()) {
      bad("object mode needs \"points\", a box or \"mask_input\"");
    }
    if (r.boxes.size() > 1) bad("object mode takes at most one box (got " + std::to_string(r.boxes.size()) + ")");
    if (!r.boxes.empty() && !r.boxes[0].positive) {
      bad("object mode takes a positive box (negative boxes are concept exemplars)");
    }
  }
  return r;
}

std::vector<ConceptPrompt> concept_prompts(const SegmentRequest& request) {
  std::vector<ConceptPrompt> prompts;
  if (request.texts.empty()) prompts.push_back({"", request.boxes});
  for (const auto& t : request.texts) prompts.push_back({t, request.boxes});
  return prompts;
}

ObjectPrompt object_prompt(const SegmentRequest& request) {
  ObjectPrompt p;
  p.points = request.points;
  if (!request.boxes.empty()) p.box = request.boxes.front();
  p.mask_input = request.mask_input;
  p.multimask = request.multimask.value_or(p.points.size() == 1 && !p.box.has_value());
  return p;
}

ObjectAnswer object_answer(const ObjectResult& result, const ObjectPrompt& prompt, bool best_only) {
  ObjectAnswer answer = render::object_result_json(result, best_only);
  answer.json["prompt"] = render::object_prompt_json(
      prompt, prompt.mask_input.defined() ? nlohmann::ordered_json(true) : nlohmann::ordered_json());
  return answer;
}

SegmentResult merge_results(std::vector<SegmentResult> results) {
  SegmentResult all;
  if (results.empty()) return all;
  all.width = results.front().width;
  all.height = results.front().height;
  for (size_t i = 0; i < results.size(); ++i) {
    for (const auto& [stage, ms] : results[i].timings_ms) {
      if (stage == "vision_encoder" && i > 0) continue;  // the image was encoded once
      all.timings_ms[stage] += ms;
    }
    for (auto& inst : results[i].instances) all.instances.push_back(std::move(inst));
  }
  std::stable_sort(all.instances.begin(), all.instances.end(),
                   [](const Instance& a, const Instance& b) { return a.score > b.score; });
  return all;
}

std::string base64_encode(const uint8_t* data, size_t size) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::pair<int64_t, int64_t>> probe_image_size(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const auto be32 = [&](size_t at) {
    return (uint32_t{data[at]} << 24) | (uint32_t{data[at + 1]} << 16) | (uint32_t{data[at + 2]} << 8) | data[at + 3];
  };
  if (size >= 24 && std::equal(kPng, kPng + 8, data) && std::equal(data + 12, data + 16, "IHDR")) {
    return std::make_pair(int64_t{be32(16)}, int64_t{be32(20)});
  }
  if (size >= 4 && data[0] == 0xff && data[1] == 0xd8) {
    size_t at = 2;
    while (at + 4 <= size) {
      if (data[at] != 0xff) return std::nullopt;
      const uint8_t marker = data[at + 1];
      if (marker == 0xff) {  // fill byte
        ++at;
        continue;
      }
      if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length
        at += 2;
        continue;
      }
      const size_t length = (size_t{data[at + 2]} << 8) | data[at + 3];
      if (length < 2) return std::nullopt;
      const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
      if (sof) {
        if (at + 9 > size) return std::nullopt;
        const int64_t h = (int64_t{data[at + 5]} << 8) | data[at + 6];
        const int64_t w = (int64_t{data[at + 7]} << 8) | data[at + 8];
        return std::make_pair(w, h);
      }
      if (marker == 0xda || marker == 0xd9) return std::nullopt;  // scan data before a frame header
      at += 2 + length;
    }
  }
  return std::nullopt;
}

}  // namespace sam3rt::server
