#include "server/session_cache.h"

#include <cstdio>

#include "pipeline/model_impl.h"

namespace sam3rt::server {

namespace {

// Float32 bytes of one vision neck's levels (one per scale factor) for a G x G grid.
size_t neck_bytes(const VisionConfig& v) {
  const double g = static_cast<double>(v.backbone.grid());
  double cells = 0;
  for (double s : v.scale_factors) cells += (s * g) * (s * g);
  return static_cast<size_t>(cells) * static_cast<size_t>(v.fpn_hidden_size) * sizeof(float);
}

}  // namespace

size_t estimate_image_bytes(const Model& model, int64_t width, int64_t height) {
  const ModelConfig& c = model.impl().config;
  size_t bytes = static_cast<size_t>(width) * static_cast<size_t>(height) * 3;
  const VisionConfig* vit = nullptr;
  if (c.detector) {
    bytes += neck_bytes(c.detector->vision);
    vit = &c.detector->vision;
  }
  if (c.tracker) {
    bytes += neck_bytes(c.tracker->vision);
    if (!vit) vit = &c.tracker->vision;
  }
  if (vit) {
    const auto g = static_cast<size_t>(vit->backbone.grid());
    bytes += g * g * static_cast<size_t>(vit->backbone.hidden_size) * sizeof(float);
  }
  return bytes;
}

SessionCache::SessionCache(size_t budget_bytes) : budget_(budget_bytes), rng_(std::random_device{}()) {}

std::string SessionCache::new_id() {
  uint64_t a, b;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    a = rng_();
    b = rng_();
  }
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return text;
}

std::vector<std::string> SessionCache::insert(std::shared_ptr<ImageEntry> entry) {
  std::vector<std::string> evicted;
  std::vector<std::shared_ptr<ImageEntry>> dropped;  // released after the lock
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = index_.find(entry->id); it != index_.end()) {
    bytes_ -= (*it->second)->bytes;
    dropped.push_back(*it->second);
    lru_.erase(it->second);
    index_.erase(it);
  }
  bytes_ += entry->bytes;
  lru_.push_front(std::move(entry));
  index_[lru_.front()->id] = lru_.begin();
  while (bytes_ > budget_ && lru_.size() > 1) {
    auto& victim = lru_.back();
    evicted.push_back(victim->id);
    bytes_ -= victim->bytes;
    index_.erase(victim->id);
    dropped.push_back(std::move(victim));
    lru_.pop_back();
    ++evictions_;
  }
  return evicted;
}

std::shared_ptr<ImageEntry> SessionCache::find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  return lru_.front();
}

bool SessionCache::erase(const std::string& id) {
  std::shared_ptr<ImageEntry> dropped;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  bytes_ -= (*it->second)->bytes;
  dropped = std::move(*it->second);
  lru_.erase(it->second);
  index_.erase(it);
  return true;
}

size_t SessionCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lru_.size();
}

size_t SessionCache::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

size_t SessionCache::evictions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return evictions_;
}

}  // namespace sam3rt::server
