// sam3rt serve: the HTTP API and web page (src/server/, docs/server.md). Runs until
// SIGINT or SIGTERM, then stops accepting, finishes in-flight requests and exits 0.
#include <CLI/CLI.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "commands.h"
#include "model_flags.h"
#include "sam3rt/sam3rt.h"
#include "sam3rt/server.h"

namespace sam3rt::cli {

namespace {

struct ServeArgs {
  ModelOptions model;
  server::ServerOptions options;
  size_t cache_mb = 2048;
  size_t max_body_mb = 32;
};

void run_serve(ServeArgs& a) {
  // Block the stop signals in this thread before any other starts (the model's and the
  // server's threads inherit the mask), then take them synchronously with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  SAM3RT_CHECK(pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) == 0, kInternal, "cannot block SIGINT/SIGTERM");
  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not end the server

  auto model = Model::load(a.model);
  if (model->has_random_weights()) note_random_weights(a.model.model_dir);
  note_compute_path(*model);
  a.options.cache_bytes = a.cache_mb << 20;
  a.options.max_body_bytes = a.max_body_mb << 20;
  server::Server server(model, a.options);
  const int port = server.start();
  std::printf("sam3rt serve: %s model from %s on http://%s:%d/ (Ctrl-C to stop)\n", model->type_name().c_str(),
              a.model.model_dir.c_str(), a.options.host.c_str(), port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "sam3rt serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.stop();
  std::fprintf(stderr, "sam3rt serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "HTTP API and web page for click / box / text segmentation");
  auto a = std::make_shared<ServeArgs>();
  add_model_flags(cmd, a->model, "transformers' text-only path (no geometry CLS token) instead of Meta's");
  cmd->add_option("--host", a->options.host, "address to bind (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", a->options.port, "TCP port (0 = any free port, printed on start)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", a->options.http_threads, "requests read, handled and answered at once")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--max-connections", a->options.max_connections, "connections open at once")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--head-timeout", a->options.head_timeout_seconds,
                  "seconds from a request head's first byte to its end (else 408)")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--body-timeout", a->options.body_timeout_seconds, "seconds from a head's end to its body's end")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--inference-slots", a->options.inference_slots, "model runs at once; the rest queue")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--cache-mb", a->cache_mb, "memory budget of the image-feature cache (LRU), MiB")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-body-mb", a->max_body_mb, "largest request body, MiB")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-pixels", a->options.max_image_pixels, "largest image, width x height")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--max-prompts", a->options.max_prompts, "most texts + boxes + points in one request")
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--log", a->options.log_requests, "log every request on stderr");
  cmd->callback([&exit_code, a] {
    run_serve(*a);
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
