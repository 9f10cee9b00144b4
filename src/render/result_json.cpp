#include "render/result_json.h"

#include <nlohmann/json.hpp>

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

}  // namespace sam3rt::render
