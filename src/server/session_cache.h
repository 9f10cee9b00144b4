// The server's image sessions: one encoded image each, kept in an LRU cache with a
// memory budget. Entries are shared_ptrs, so evicting or deleting an image that a request
// is still using only drops the cache's reference; the request finishes normally.
//
// Thread-safety: every SessionCache method is thread-safe. An Entry's session is not:
// hold Entry::mutex while using it (that is what serialises requests on one image).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "sam3rt/model.h"

namespace sam3rt::server {

struct ImageEntry {
  ImageEntry(std::string id_, ImageSession session_, at::Tensor rgb_, size_t bytes_)
      : id(std::move(id_)), session(std::move(session_)), rgb(std::move(rgb_)), bytes(bytes_) {}
  const std::string id;
  std::mutex mutex;       // held for every use of `session`
  ImageSession session;
  const at::Tensor rgb;   // [H, W, 3] uint8, for overlays
  const size_t bytes;     // estimated memory: pixels + encoded features
  int64_t width() const { return rgb.size(1); }
  int64_t height() const { return rgb.size(0); }
};

class SessionCache {
 public:
  explicit SessionCache(size_t budget_bytes);

  // A fresh, unguessable id (32 hex digits).
  std::string new_id();
  // Adds an entry, then evicts least-recently-used entries until the total is within
  // the budget (the new entry itself always stays). Returns the ids evicted.
  std::vector<std::string> insert(std::shared_ptr<ImageEntry> entry);
  // The entry, marked most recently used; nullptr when unknown (never added, deleted or
  // evicted).
  std::shared_ptr<ImageEntry> find(const std::string& id);
  // True if the id was present.
  bool erase(const std::string& id);

  size_t size() const;
  size_t bytes() const;
  size_t budget() const { return budget_; }
  size_t evictions() const;

 private:
  const size_t budget_;
  mutable std::mutex mutex_;
  std::list<std::shared_ptr<ImageEntry>> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<std::shared_ptr<ImageEntry>>::iterator> index_;
  size_t bytes_ = 0;
  size_t evictions_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace sam3rt::server
