#include "sam3rt/server.h"

#include <ATen/ops/mul.h>

#include <httplib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <cstdio>
#include <mutex>
#include <new>
#include <thread>

#include "api.h"
#include "connection_loop.h"
#include "page.h"
#include "sam3rt/image.h"
#include "sam3rt/render.h"
#include "session_cache.h"
#include "upload.h"

namespace sam3rt::server {

namespace {

// Gives the heap's free pages back to the system. An upload frees its body, decoded image
// and encoder activations (tens of MB each) in several threads' malloc arenas, and glibc
// keeps such blocks for reuse by the same arena (its mmap threshold rises to the largest
// block freed), so without this the server's RSS settles far above what it holds:
// scripts/upload_memory.py measured 427 MiB idle against 250 MiB with trimming.
void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

using Clock = std::chrono::steady_clock;
using ordered_json = nlohmann::ordered_json;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, error_body(status, code, message));
}

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// The threads that run the model. HTTP threads hand their model work (decoding,
// encoding, segmenting, rendering the answer) to this pool and wait for it, so the large
// tensors are allocated by a few long-lived threads only: at most `size` runs at once,
// and the process's memory settles instead of creeping up as every HTTP thread warms
// its own allocator arena.
class WorkerPool {
 public:
  explicit WorkerPool(int size) {
    for (int i = 0; i < size; ++i) threads_.emplace_back([this] { work(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs fn on a pool thread and returns its result (or rethrows its exception).
  template <typename F>
  auto run(F&& fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::forward<F>(fn));
    auto result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.emplace_back([&task] { task(); });
    }
    cv_.notify_one();
    return result.get();  // `task` outlives the job: get() returns after it ran
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // done_ and drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

// httplib parses, routes and answers; the connection loop (connection_loop.h) owns the
// sockets. process_request is httplib's protected entry for one request on a stream.
class Router : public httplib::Server {
 public:
  bool serve(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }
  // The socket bind_to_port made, now the caller's to listen on and close.
  int take_listener() { return static_cast<int>(svr_sock_.exchange(INVALID_SOCKET)); }
};

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<const Model> m, ServerOptions o)
      : model(std::move(m)), options(std::move(o)), cache(options.cache_bytes), workers(options.inference_slots) {}

  std::shared_ptr<const Model> model;
  const ServerOptions options;
  SessionCache cache;
  WorkerPool workers;   // declared before `http`: outlives the HTTP threads that wait on it
  Router http;
  std::unique_ptr<ConnectionLoop> loop;  // made by start()
  std::thread thread;                    // runs the loop
  std::mutex stop_mutex;  // serialises stop() (a signal thread and the destructor)
  std::mutex state_mutex;
  std::condition_variable state_cv;
  bool started = false;
  bool finished = false;
  int port = 0;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  const Clock::time_point born = Clock::now();

  // Runs a handler, turning every exception into a JSON error with a status.
  template <typename F>
  void guarded(httplib::Response& res, F&& body) {
    ++requests;
    try {
      body();
      return;
    } catch (const ApiError& e) {
      send_error(res, e.status(), e.code(), e.what());
    } catch (const Error& e) {
      send_error(res, http_status_for(e.code()), error_code_name(e.code()), e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, 500, "internal error", "out of memory");
    } catch (const std::exception& e) {
      send_error(res, 500, "internal error", e.what());
    } catch (...) {
      send_error(res, 500, "internal error", "unknown failure");
    }
    ++failures;
  }

  std::shared_ptr<ImageEntry> entry(const std::string& id) {
    auto e = cache.find(id);
    if (!e) {
      SAM3RT_FAIL(kNotFound, "image '", id, "' not found (never uploaded, deleted, or evicted from the cache)");
    }
    return e;
  }

  ordered_json limits_json() const {
    return {{"max_body_bytes", options.max_body_bytes},
            {"max_image_pixels", options.max_image_pixels},
            {"max_prompts", options.max_prompts},
            {"max_text_chars", options.max_text_chars}};
  }

  void health(httplib::Response& res) {
    ordered_json j;
    j["status"] = "ok";
    j["uptime_s"] = ms_since(born) / 1000.0;
    j["images"] = cache.size();
    j["cache_bytes"] = cache.bytes();
    j["cache_budget_bytes"] = cache.budget();
    j["evictions"] = cache.evictions();
    j["requests"] = requests.load();
    j["failures"] = failures.load();
    send_json(res, 200, dump(j));
  }

  void model_info(httplib::Response& res) {
    ordered_json j;
    j["type"] = model->type_name();
    j["image_size"] = model->image_size();
    j["concept"] = model->can_segment_concepts();
    j["object"] = model->can_segment_objects();
    j["random_weights"] = model->has_random_weights();
    j["limits"] = limits_json();
    send_json(res, 200, dump(j));
  }

  void upload(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& content) {
    const std::string data = read_upload(req, res, content);
    const std::string body = workers.run([&] {
      const auto t0 = Clock::now();
      const at::Tensor rgb = decode_upload(data, options.max_image_pixels);
      const double decode_ms = ms_since(t0);
      const auto t1 = Clock::now();
      ImageSession session(model);
      session.set_image(rgb);
      const double encode_ms = ms_since(t1);
      auto e = std::make_shared<ImageEntry>(cache.new_id(), std::move(session), rgb,
                                            model->estimated_image_bytes(rgb.size(1), rgb.size(0)));
      const std::string id = e->id;
      cache.insert(std::move(e));
      ordered_json j;
      j["id"] = id;
      j["width"] = rgb.size(1);
      j["height"] = rgb.size(0);
      j["timings_ms"] = {{"decode", decode_ms}, {"encode", encode_ms}};
      return dump(j);
    });
    send_json(res, 200, body);
  }

  void segment(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    auto e = entry(id);
    RequestLimits limits;
    limits.max_prompts = options.max_prompts;
    limits.max_text_chars = options.max_text_chars;
    limits.max_mask_pixels = options.max_image_pixels;
    SegmentCall call = parse_segment_request(req.body, limits);
    call.json.image_id = e->id;
    std::lock_guard<std::mutex> image_lock(e->mutex);  // one request at a time per image
    send_json(res, 200, workers.run([&] { return answer_json(e->session.run(call.request), call.json); }));
  }

  void remove(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    SAM3RT_CHECK(cache.erase(id), kNotFound, "image '", id, "' not found (never uploaded, deleted, or evicted)");
    send_json(res, 200, dump(ordered_json{{"deleted", id}}));
  }

  void routes() {
    http.Get("/", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] {
        res.set_header("Cache-Control", "no-store");
        res.set_content(std::string(index_html()), "text/html; charset=utf-8");
      });
    });
    http.Get("/v1/health", [this](const httplib::Request&, httplib::Response& res) { guarded(res, [&] { health(res); }); });
    http.Get("/v1/model", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] { model_info(res); });
    });
    http.Post("/v1/images", [this](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& content) {
      guarded(res, [&] { upload(req, res, content); });
      release_free_heap();
    });
    http.Post(R"(/v1/images/([^/]+)/segment)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { segment(req, res); });
    });
    http.Delete(R"(/v1/images/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { remove(req, res); });
    });
    // Whatever the router or the HTTP layer refused (no route, body too large, a
    // malformed request) still gets a JSON error body.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message;
      switch (res.status) {
        case 404: message = "no such endpoint: " + req.method + " " + req.path; break;
        case 413:
          // httplib caps form-urlencoded bodies (curl -d / --data-binary's default type) at 8 KiB.
          message = req.get_header_value("Content-Type") == "application/x-www-form-urlencoded"
                        ? "form-urlencoded bodies are limited to 8 KiB: send images with Content-Type "
                          "image/jpeg, image/png or application/octet-stream, JSON with application/json"
                        : "request body too large";
          break;
        case 400: message = "malformed HTTP request"; break;
        default: message = "HTTP error " + std::to_string(res.status); break;
      }
      const std::string code = res.status == 404 ? "not found" : res.status == 413 ? "payload too large" : "bad request";
      res.set_content(error_body(res.status, code, message), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_error(res, 500, "internal error", "unexpected failure in the HTTP layer");
    });
    if (options.log_requests) {
      http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
        std::fprintf(stderr, "sam3rt serve: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
      });
    }
  }
};

Server::Server(std::shared_ptr<const Model> model, ServerOptions options) {
  SAM3RT_CHECK(model != nullptr, kInvalidArgument, "the server needs a loaded model");
  SAM3RT_CHECK(options.port >= 0 && options.port <= 65535, kInvalidArgument, "port ", options.port,
               " is not in 0..65535");
  SAM3RT_CHECK(options.http_threads >= 1, kInvalidArgument, "http_threads must be at least 1");
  SAM3RT_CHECK(options.inference_slots >= 1, kInvalidArgument, "inference_slots must be at least 1");
  SAM3RT_CHECK(options.max_body_bytes > 0 && options.max_image_pixels > 0 && options.max_prompts > 0,
               kInvalidArgument, "server limits must be positive");
  SAM3RT_CHECK(options.head_timeout_seconds >= 1 && options.body_timeout_seconds >= 1 && options.max_connections >= 1 &&
                   options.keep_alive_seconds >= 0,
               kInvalidArgument, "server timeouts and max_connections must be positive");
  impl_ = std::make_unique<Impl>(std::move(model), std::move(options));
  Impl& s = *impl_;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second
  // server silently share (and split the traffic of) a port already in use.
  s.http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s.http.set_payload_max_length(s.options.max_body_bytes);
  // Only for the Keep-Alive header httplib writes; the loop enforces both.
  s.http.set_keep_alive_timeout(s.options.keep_alive_seconds);
  s.http.set_keep_alive_max_count(static_cast<size_t>(std::max(1, s.options.keep_alive_requests)));
  s.routes();
}

Server::~Server() {
  try {
    stop();
  } catch (...) {
  }
}

int Server::start() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.state_mutex);
    SAM3RT_CHECK(!s.started, kInvalidArgument, "the server was already started");
    s.started = true;
  }
  const std::string& host = s.options.host;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(host);
    SAM3RT_CHECK(port > 0, kIo, "cannot bind ", host, " to a free port");
  } else {
    SAM3RT_CHECK(s.http.bind_to_port(host, port), kIo, "cannot bind ", host, ":", port,
                 " (address in use, or not an address of this machine)");
  }
  s.port = port;
  LoopOptions lo;
  lo.threads = s.options.http_threads;
  lo.idle_timeout_s = s.options.keep_alive_seconds;
  lo.keep_alive_requests = std::max(1, s.options.keep_alive_requests);
  lo.head_timeout_s = s.options.head_timeout_seconds;
  lo.body_timeout_s = s.options.body_timeout_seconds;
  lo.max_connections = s.options.max_connections;
  s.loop = std::make_unique<ConnectionLoop>(
      s.http.take_listener(), lo, [&s](httplib::Stream& stream, bool close_connection, bool& connection_closed) {
        return s.http.serve(stream, close_connection, connection_closed);
      },
      [&s](std::string_view head) { return refuse_request_head(head, s.options.max_body_bytes); });
  s.thread = std::thread([&s] {
    s.loop->run();
    std::lock_guard<std::mutex> lock(s.state_mutex);
    s.finished = true;
    s.state_cv.notify_all();
  });
  return port;
}

void Server::stop() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.stop_mutex);
  if (s.loop) s.loop->stop();
  if (s.thread.joinable()) s.thread.join();
}

void Server::wait() {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.state_mutex);
  s.state_cv.wait(lock, [&] { return !s.started || s.finished; });
}

bool Server::running() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return impl_->started && impl_->loop != nullptr && !impl_->finished;
}
int Server::port() const { return impl_->port; }

}  // namespace sam3rt::server
