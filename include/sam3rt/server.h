// sam3rt's HTTP server (`sam3rt serve`): a JSON API over cached image sessions and the
// interactive web page at "/". docs/server.md describes the endpoints.
//
//   auto model = sam3rt::Model::load(mo);
//   sam3rt::server::Server server(model, {});   // 127.0.0.1:8080 by default
//   const int port = server.start();            // binds, then serves on background threads
//   ...
//   server.stop();                              // finishes in-flight requests, joins
//
// One thread accepts connections and waits for request heads (poll); a slow or idle
// client holds a socket for a bounded time, never a thread. A complete request goes to a
// pool of `http_threads` threads, which read its body, parse and route it (cpp-httplib) and
// hand the model work (decoding and encoding an upload; segmenting and
// rendering the answer) to a second pool of `inference_slots` threads, so at most that
// many model runs happen at once, big tensors are allocated by a few long-lived threads
// only, and cheap requests (health, model, the page) never queue behind inference.
// Requests on the same image are serialised by a per-image lock; requests on different
// images run in parallel. Uploaded images are encoded once and kept in an LRU cache
// bounded by `cache_bytes` (an estimate of each image's features from the model config).
//
// Thread-safety: start(), stop() and wait() may be called from any thread; stop() is
// idempotent and is also run by the destructor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sam3rt/model.h"

namespace sam3rt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback only unless asked otherwise
  int port = 8080;                 // 0 = any free port (start() returns it)
  int http_threads = 32;           // requests read, handled and answered at once
  int inference_slots = 2;         // model threads: runs (encode, segment) at once; others queue
  size_t max_body_bytes = size_t{32} << 20;   // larger request bodies -> 413
  int64_t max_image_pixels = 40'000'000;      // larger images -> 413
  size_t max_prompts = 32;         // texts + boxes + points of one request; more -> 400
  size_t max_text_chars = 256;     // longer texts -> 400
  size_t cache_bytes = size_t{2} << 30;       // feature cache budget (LRU eviction)
  // Connections: at most max_connections open (more wait in the accept backlog); an idle
  // keep-alive connection is closed after keep_alive_seconds, and after keep_alive_requests
  // requests; a request head must arrive within head_timeout_seconds of its first byte
  // (else 408), its body within body_timeout_seconds of the head.
  int keep_alive_seconds = 5;
  int keep_alive_requests = 20;
  int head_timeout_seconds = 10;
  int body_timeout_seconds = 60;
  size_t max_connections = 500;
  bool log_requests = false;       // one line per request on stderr
};

class Server {
 public:
  // Throws Error(kInvalidArgument) for a null model or nonsensical options.
  Server(std::shared_ptr<const Model> model, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and starts serving on background threads; returns the bound port.
  // Throws Error(kIo) if the address cannot be bound, Error(kInvalidArgument) if the
  // server was already started.
  int start();
  // Stops accepting, lets in-flight requests finish, joins every thread. Idempotent.
  void stop();
  // Blocks until the server has stopped (after stop() from another thread).
  void wait();
  bool running() const;
  int port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sam3rt::server
