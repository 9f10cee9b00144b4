#include "render/result_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

#include "render/coco_rle.h"

namespace sam3rt::render {

std::string result_json(const SegmentResult& result, const std::string& extra) {
  nlohmann::ordered_json root;
  root["image"] = {{"width", result.width}, {"height", result.height}};
  nlohmann::ordered_json instances = nlohmann::ordered_json::array();
  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Instance& inst = result.instances[i];
    nlohmann::ordered_json j;
    j["id"] = i;
    j["prompt"] = inst.prompt;
    j["score"] = inst.score;
    j["presence"] = inst.presence;
    j["box"] = {inst.box.x1, inst.box.y1, inst.box.x2, inst.box.y2};
    j["area"] = inst.area;
    if (inst.mask.defined()) {
      const CocoRle rle = encode_coco_rle(inst.mask);
      j["mask"] = {{"size", {rle.height, rle.width}}, {"counts", rle.counts}};
    }
    instances.push_back(std::move(j));
  }
  root["instances"] = std::move(instances);
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  for (const auto& [stage, ms] : result.timings_ms) timings[stage] = ms;
  root["timings_ms"] = std::move(timings);
  if (!extra.empty()) {
    const auto e = nlohmann::ordered_json::parse(extra);
    for (auto it = e.begin(); it != e.end(); ++it) root[it.key()] = it.value();
  }
  return root.dump(2) + "\n";
}

ObjectResultJson object_result_json(const ObjectResult& result, bool best_only) {
  std::vector<int> order(result.candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return result.candidates[a].iou > result.candidates[b].iou; });
  if (best_only && order.size() > 1) order.erase(order.begin() + 1, order.end());
  ObjectResultJson answer;
  SegmentResult& out = answer.instances;
  out.width = result.width;
  out.height = result.height;
  out.timings_ms = result.timings_ms;
  for (int i : order) {
    const ObjectMask& c = result.candidates[i];
    Instance inst;
    inst.prompt = "object";
    inst.score = c.iou;
    inst.presence = c.object_score;
    inst.box = c.box;
    inst.mask = c.mask;
    inst.area = c.area;
    out.instances.push_back(std::move(inst));
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(result_json(out));
  for (size_t k = 0; k < order.size(); ++k) {
    const nlohmann::ordered_json& e = j["instances"][k];
    nlohmann::ordered_json x;
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it.key() == "score") {
        x["iou"] = result.candidates[order[k]].iou;
        x["object_score"] = result.candidates[order[k]].object_score;
        x["candidate"] = order[k];
        x["best"] = order[k] == result.best;
      } else if (it.key() != "presence") {
        x[it.key()] = it.value();
      }
    }
    j["instances"][k] = std::move(x);
  }
  j["mode"] = "object";
  answer.json = std::move(j);
  return answer;
}

nlohmann::ordered_json object_prompt_json(const ObjectPrompt& prompt, const nlohmann::ordered_json& mask_input) {
  nlohmann::ordered_json pj;
  pj["points"] = nlohmann::ordered_json::array();
  for (const auto& p : prompt.points) pj["points"].push_back({{"x", p.x}, {"y", p.y}, {"positive", p.positive}});
  if (prompt.box) pj["box"] = {prompt.box->x1, prompt.box->y1, prompt.box->x2, prompt.box->y2};
  if (!mask_input.is_null()) pj["mask_input"] = mask_input;
  pj["multimask"] = prompt.multimask;
  return pj;
}

}  // namespace sam3rt::render
