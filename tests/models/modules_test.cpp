// The checkpoint layout sam3rt expects, pinned against the real facebook/sam3 files.
//
// For each full-size manifest (every key, dtype and shape of the real checkpoint of one
// layout, written by the reference on the meta device) the key set sam3rt declares from
// the matching config.json must be identical, with identical shapes and dtypes. No
// weight is allocated. The tiny fixtures' checkpoints must bind with no problem at all.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/modules.h"
#include "sam3rt/error.h"

namespace sam3rt {
namespace {

const std::string kManifests = SAM3RT_TEST_DATA "/sam3-full-manifest";
const std::string kTiny = SAM3RT_TEST_DATA "/sam3-tiny-seed0";

struct Entry {
  std::string dtype;
  std::vector<int64_t> shape;
  bool operator==(const Entry& o) const { return dtype == o.dtype && shape == o.shape; }
};

std::string describe(const Entry& e) {
  std::string s = e.dtype + "[";
  for (size_t i = 0; i < e.shape.size(); ++i) s += (i ? "," : "") + std::to_string(e.shape[i]);
  return s + "]";
}

// `config_path`'s expected tensors against the manifest of the real checkpoint.
void expect_layout_matches(const std::string& model, const std::string& config_path,
                           const std::string& manifest_path) {
  const ModelConfig config = load_model_config(config_path);
  std::map<std::string, Entry> ours;
  for (const auto& t : models::expected_tensors(config)) {
    ours[t.name] = {io::dtype_name(t.dtype), t.shape};
  }
  std::ifstream in(manifest_path);
  ASSERT_TRUE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  std::map<std::string, Entry> theirs;
  for (const auto& t : manifest.at("tensors")) {
    theirs[t.at("name").get<std::string>()] = {t.at("dtype").get<std::string>(),
                                               t.at("shape").get<std::vector<int64_t>>()};
  }
  ASSERT_EQ(theirs.size(), manifest.at("num_checkpoint_tensors").get<size_t>());

  std::vector<std::string> missing, extra, different;
  for (const auto& [name, e] : theirs) {
    auto it = ours.find(name);
    if (it == ours.end()) missing.push_back(name);
    else if (!(it->second == e)) different.push_back(name + ": ours " + describe(it->second) + ", real " + describe(e));
  }
  for (const auto& [name, e] : ours) {
    if (!theirs.count(name)) extra.push_back(name);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 40; ++i) s += "\n  " + v[i];
    return s;
  };
  EXPECT_TRUE(missing.empty()) << model << ": keys of the real checkpoint sam3rt does not bind:" << join(missing);
  EXPECT_TRUE(extra.empty()) << model << ": keys sam3rt expects that the real checkpoint lacks:" << join(extra);
  EXPECT_TRUE(different.empty()) << model << ": shape or dtype differences:" << join(different);
  EXPECT_EQ(ours.size(), theirs.size());
}

void expect_layout_matches_manifest(const std::string& model) {
  expect_layout_matches(model, kManifests + "/" + model + "_config.json", kManifests + "/" + model + "_manifest.json");
}

TEST(ModuleLayout, MatchesFullSizeImageManifest) { expect_layout_matches_manifest("sam3_image"); }
TEST(ModuleLayout, MatchesFullSizeTrackerManifest) { expect_layout_matches_manifest("sam3_tracker"); }
TEST(ModuleLayout, MatchesFullSizeVideoManifest) { expect_layout_matches_manifest("sam3_video"); }

// Every size of SAM 2.1 and SAM 2 (tiny, small, base-plus, large), video and image-only
// layouts: the configs derived from the reference's conversion settings.
TEST(ModuleLayout, MatchesEverySam2FullSizeManifest) {
  const std::string dir = SAM3RT_TEST_DATA "/sam2-full-manifest";
  int checked = 0;
  for (const char* version : {"sam2", "sam2.1"}) {
    for (const char* size : {"tiny", "small", "base-plus", "large"}) {
      for (const char* layout : {"sam2_video", "sam2_tracker"}) {
        const std::string stem = dir + "/" + version + "-hiera-" + size + "." + layout;
        SCOPED_TRACE(stem);
        expect_layout_matches(stem, stem + "_config.json", stem + "_manifest.json");
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 16);
}

void expect_tiny_binds(const std::string& model, const std::string& root = kTiny) {
  const std::string dir = root + "/" + model;
  const ModelConfig config = load_model_config(dir + "/config.json");
  io::WeightStore store(io::SafetensorsFile::open(dir + "/model.safetensors"));
  models::bind_modules(config, store);
  const auto problems = store.problems();
  std::string all;
  for (const auto& p : problems) all += "\n  " + p;
  EXPECT_TRUE(problems.empty()) << model << ":" << all;
  EXPECT_NO_THROW(store.finish(dir));
}

TEST(ModuleLayout, TinyImageCheckpointBinds) { expect_tiny_binds("sam3_image"); }
TEST(ModuleLayout, TinyTrackerCheckpointBinds) { expect_tiny_binds("sam3_tracker"); }
TEST(ModuleLayout, TinyVideoCheckpointBinds) { expect_tiny_binds("sam3_video"); }
TEST(ModuleLayout, Sam2CheckpointsBind) {
  for (const char* root : {SAM3RT_TEST_DATA "/sam2-tiny-seed0", SAM3RT_TEST_DATA "/sam2-baseplus-seed1"}) {
    expect_tiny_binds("sam2_video", root);
    expect_tiny_binds("sam2_tracker", root);
  }
}

TEST(ModuleLayout, ReportsEveryMissingAndUnexpectedKey) {
  // Drop two tensors and rename a third: all three problems (plus the stray name) come
  // back from one load.
  const std::string dir = kTiny + "/sam3_image";
  const auto file = io::SafetensorsFile::open(dir + "/model.safetensors");
  std::map<std::string, at::Tensor> tensors;
  for (const auto& t : file->tensors()) tensors[t.name] = file->tensor(t);
  tensors.erase("detector_model.detr_decoder.query_embed.weight");
  tensors.erase("detector_model.text_projection.bias");
  at::Tensor moved = tensors.at("detector_model.geometry_encoder.cls_embed.weight");
  tensors.erase("detector_model.geometry_encoder.cls_embed.weight");
  tensors["detector_model.geometry_encoder.cls_token.weight"] = moved;
  at::Tensor wrong = tensors.at("detector_model.dot_product_scoring.text_proj.weight");
  tensors["detector_model.dot_product_scoring.text_proj.weight"] = wrong.t().contiguous().narrow(0, 0, 8);

  io::WeightStore store(std::move(tensors));
  models::bind_modules(load_model_config(dir + "/config.json"), store);
  try {
    store.finish("tiny");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
    EXPECT_NE(msg.find("missing detector_model.detr_decoder.query_embed.weight [8, 32]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing detector_model.text_projection.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing detector_model.geometry_encoder.cls_embed.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected detector_model.geometry_encoder.cls_token.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("detector_model.dot_product_scoring.text_proj.weight: expected shape [32, 32], found [8, 32]"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("(5 problems)"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace sam3rt
