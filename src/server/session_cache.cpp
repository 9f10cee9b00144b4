#include "session_cache.h"

#include <cstdio>


namespace sam3rt::server {

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
