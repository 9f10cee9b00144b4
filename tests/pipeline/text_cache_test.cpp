// The model's text-feature cache: bounded to Model::Impl::kTextCacheEntries prompts, the
// least recently used evicted first (and encoded again when asked for), a hit returning
// the very tensors stored. On a tiny random-weight sam3_image model whose vocabulary is
// widened to CLIP's 49408 tokens so that Model::load accepts the bundled tokenizer.
#include <gtest/gtest.h>

#include <ATen/ops/equal.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <sam3rt/sam3rt.h>

#include "pipeline/model_impl.h"
#include "pipeline/random_checkpoint.h"
#include "testing/fixture.h"

namespace sam3rt {
namespace {

namespace fs = std::filesystem;

using TextFeatures = Model::Impl::TextFeatures;
constexpr size_t kBound = Model::Impl::kTextCacheEntries;

// A distinct prompt per i.
std::string prompt(size_t i) { return "thing number " + std::to_string(i); }

class TextCache : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(testing::data_path("sam3-tiny-seed0/sam3_image/config.json"));
    nlohmann::json j = nlohmann::json::parse(in);
    j["text_config"]["vocab_size"] = 49408;
    root_ = new fs::path(fs::temp_directory_path() / ("sam3rt_text_cache_test_" + std::to_string(::getpid())));
    fs::create_directories(*root_);
    std::ofstream(*root_ / "input_config.json") << j.dump(2);
    pipeline::RandomCheckpointOptions o;
    o.seed = 3;
    pipeline::make_random_checkpoint((*root_ / "input_config.json").string(), (*root_ / "model").string(), o);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }
  // A freshly loaded model: its cache starts empty.
  void SetUp() override {
    ModelOptions mo;
    mo.model_dir = (*root_ / "model").string();
    mo.num_threads = 1;
    model_ = Model::load(mo);
  }
  const Model::Impl& impl() const { return model_impl(*model_); }

  static fs::path* root_;
  std::shared_ptr<const Model> model_;
};
fs::path* TextCache::root_ = nullptr;

TEST_F(TextCache, HoldsTheBoundAndEvictsTheLeastRecentlyUsed) {
  ASSERT_GE(kBound, 3u);
  EXPECT_EQ(impl().text_cache_size(), 0u);
  std::vector<TextFeatures> first;
  for (size_t i = 0; i < kBound; ++i) {
    first.push_back(impl().text_features(prompt(i)));
    EXPECT_EQ(impl().text_cache_size(), i + 1);
  }
  // Real, distinct features: [1, L, d] and a mask with the prompt's tokens.
  ASSERT_EQ(first[0].features.dim(), 3);
  EXPECT_EQ(first[0].features.size(0), 1);
  EXPECT_GT(first[0].valid.sum().item<int64_t>(), 2);
  EXPECT_FALSE(at::equal(first[0].features, first[1].features));

  // Full, nothing evicted yet: every prompt is a hit, the stored tensors themselves.
  for (size_t i = 0; i < kBound; ++i) {
    EXPECT_TRUE(impl().text_features(prompt(i)).features.is_same(first[i].features)) << prompt(i);
  }
  // Use prompt 0 again: prompt 1 is now the least recently used and goes first.
  EXPECT_TRUE(impl().text_features(prompt(0)).features.is_same(first[0].features));
  const TextFeatures extra = impl().text_features(prompt(kBound));
  EXPECT_EQ(impl().text_cache_size(), kBound);
  EXPECT_TRUE(impl().text_features(prompt(0)).features.is_same(first[0].features)) << "recently used, kept";
  EXPECT_TRUE(impl().text_features(prompt(kBound)).features.is_same(extra.features)) << "newest, kept";
  EXPECT_TRUE(impl().text_features(prompt(kBound - 1)).features.is_same(first[kBound - 1].features));

  // Prompt 1 was evicted: encoded again (new tensors, the same values), which in turn
  // evicts prompt 2, now the oldest.
  const TextFeatures again = impl().text_features(prompt(1));
  EXPECT_FALSE(again.features.is_same(first[1].features)) << "prompt 1 was not evicted";
  EXPECT_TRUE(at::equal(again.features, first[1].features));
  EXPECT_TRUE(at::equal(again.valid, first[1].valid));
  EXPECT_EQ(impl().text_cache_size(), kBound);
  EXPECT_TRUE(impl().text_features(prompt(1)).features.is_same(again.features));
  EXPECT_FALSE(impl().text_features(prompt(2)).features.is_same(first[2].features)) << "prompt 2 was not evicted";

  // Many more distinct prompts: the size stays at the bound.
  for (size_t i = kBound + 1; i < 4 * kBound; ++i) {
    impl().text_features(prompt(i));
    ASSERT_EQ(impl().text_cache_size(), kBound) << "after " << prompt(i);
  }
  // Only the last kBound remain.
  EXPECT_FALSE(impl().text_features(prompt(0)).features.is_same(first[0].features));
  EXPECT_EQ(impl().text_cache_size(), kBound);
}

TEST_F(TextCache, ConcurrentUseStaysBoundedAndCorrect) {
  // Reference values, one prompt at a time, from a second model (its own cache).
  ModelOptions mo = model_->options();
  const auto reference_model = Model::load(mo);
  const size_t n = 2 * kBound;
  std::vector<TextFeatures> reference;
  for (size_t i = 0; i < n; ++i) reference.push_back(model_impl(*reference_model).text_features(prompt(i)));

  // Four threads over the same 2 x bound prompts, each twice in its own random order.
  constexpr int kThreads = 4;
  std::vector<std::vector<size_t>> mismatches(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<size_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::mt19937 rng(t);
      for (int round = 0; round < 2; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        for (const size_t i : order) {
          const TextFeatures f = impl().text_features(prompt(i));
          if (!at::equal(f.features, reference[i].features) || !at::equal(f.valid, reference[i].valid)) {
            mismatches[t].push_back(i);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(mismatches[t].empty()) << "thread " << t;
  EXPECT_EQ(impl().text_cache_size(), kBound);
}

}  // namespace
}  // namespace sam3rt
