// The JSON of results (sam3rt/render.h): image answers and video frames, from one set of
// field writers, so that result.json, the server's answers and tracks.json agree.
#include <nlohmann/json.hpp>

#include <ATen/ops/mul.h>

#include <utility>

#include "sam3rt/error.h"
#include "sam3rt/image.h"
#include "sam3rt/render.h"

namespace sam3rt {

namespace {

using Json = nlohmann::ordered_json;

// box, area and the COCO RLE mask: the fields every instance and tracked object share.
void add_region(Json& j, const Box& box, int64_t area, const at::Tensor& mask) {
  j["box"] = {box.x1, box.y1, box.x2, box.y2};
  j["area"] = area;
  if (mask.defined()) {
    const CocoRle rle = encode_coco_rle(mask);
    j["mask"] = {{"size", {rle.height, rle.width}}, {"counts", rle.counts}};
  }
}

std::string png_base64(const at::Tensor& image) {
  const std::vector<uint8_t> png = encode_png(image);
  return base64_encode(png.data(), png.size());
}

Json prompt_json(const ObjectPrompt& prompt, const std::string& mask_input_name) {
  Json pj;
  pj["points"] = Json::array();
  for (const auto& p : prompt.points) pj["points"].push_back({{"x", p.x}, {"y", p.y}, {"positive", p.positive}});
  if (prompt.box) pj["box"] = {prompt.box->x1, prompt.box->y1, prompt.box->x2, prompt.box->y2};
  if (prompt.mask_input.defined()) pj["mask_input"] = mask_input_name.empty() ? Json(true) : Json(mask_input_name);
  pj["multimask"] = prompt.multimask;
  return pj;
}

std::string dump(const Json& j, int indent) {
  // Texts may quote client input: invalid UTF-8 is replaced rather than thrown on.
  std::string s = j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
  return indent >= 0 ? s + "\n" : s;
}

}  // namespace

std::string answer_json(const ImageAnswer& answer, const JsonOptions& options) {
  const bool object = answer.mode == "object";
  SAM3RT_CHECK(object || answer.mode == "concept", kInvalidArgument, "answer_json: unknown mode '", answer.mode, "'");
  SAM3RT_CHECK(!object || answer.candidates.size() == answer.instances.size(), kInvalidArgument,
               "answer_json: an object answer needs one candidate entry per instance");
  Json root;
  root["mode"] = answer.mode;
  root["model"] = answer.model;
  root["image"] = {{"width", answer.width}, {"height", answer.height}};
  if (object && answer.object_prompt) root["prompt"] = prompt_json(*answer.object_prompt, answer.mask_input_name);
  Json instances = Json::array();
  for (size_t i = 0; i < answer.instances.size(); ++i) {
    const Instance& inst = answer.instances[i];
    Json j;
    j["id"] = i;
    j["prompt"] = inst.prompt;
    if (object) {
      const CandidateInfo& c = answer.candidates[i];
      j["iou"] = c.iou;
      j["object_score"] = c.object_score;
      j["candidate"] = c.slot;
      j["best"] = c.best;
    } else {
      j["score"] = inst.score;
      j["presence"] = inst.presence;
    }
    add_region(j, inst.box, inst.area, inst.mask);
    if (options.mask_png && inst.mask.defined()) j["mask_png"] = png_base64(inst.mask.to(at::kByte).mul(255));
    instances.push_back(std::move(j));
  }
  root["instances"] = std::move(instances);
  if (options.overlay) {
    SAM3RT_CHECK(answer.image.defined(), kInvalidArgument, "answer_json: an overlay needs the answer's image");
    root["overlay_png"] = png_base64(draw_overlay(answer.image, answer.instances));
  }
  if (!options.image_id.empty()) root["image_id"] = options.image_id;
  if (answer.random_weights) root["note"] = "random-weight checkpoint: masks are meaningless";
  if (options.timings) {
    Json timings = Json::object();
    for (const auto& [stage, ms] : answer.timings_ms) timings[stage] = ms;
    root["timings_ms"] = std::move(timings);
  }
  return dump(root, options.indent);
}

std::string track_frame_json(const TrackFrame& frame) {
  Json j;
  j["frame"] = frame.index;
  Json objects = Json::array();
  for (const TrackedObject& o : frame.objects) {
    Json e;
    e["id"] = o.id;
    e["present"] = o.present;
    e["score"] = o.score;
    add_region(e, o.box, o.area, o.mask);
    objects.push_back(std::move(e));
  }
  j["objects"] = std::move(objects);
  return dump(j, -1);
}

std::string base64_encode(const uint8_t* data, size_t size) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  const size_t rest = size - i;
  if (rest > 0) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (rest == 2 ? uint32_t{data[i + 1]} << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace sam3rt
