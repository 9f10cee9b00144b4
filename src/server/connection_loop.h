// The server's front door: accepts connections and waits for each request's head on one
// poll() thread, so that a connection costs a thread only while one of its requests is
// being read (against deadlines), handled and answered. A slow or idle client holds a
// socket, never a thread, and only for a bounded time:
//   - an idle keep-alive connection is closed after `idle_timeout_s`;
//   - a request head (request line and headers) must arrive whole within `head_timeout_s`
//     of its first byte, else the client gets 408 and the connection is closed;
//   - once a head is complete the request goes to one of `threads` threads, which read its
//     body (whole within `body_timeout_s`; no single wait longer than `io_timeout_s`),
//     run the handler and write the answer.
// At most `max_connections` connections are open; further clients wait in the kernel's
// accept backlog until one closes.
//
// HTTP itself (parsing, routing, answers) is the handler's business: the loop only finds
// where a head ends ("\r\n\r\n") and gives the handler a stream that replays the bytes it
// buffered before reading on from the socket.
//
// Thread-safety: run() on one thread; stop() from any thread, any number of times.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sam3rt::server {

struct LoopOptions {
  int threads = 32;              // requests handled at once
  int idle_timeout_s = 5;        // keep-alive: idle seconds before the connection is closed
  int keep_alive_requests = 20;  // requests per connection
  int head_timeout_s = 10;       // from a head's first byte to its end
  int body_timeout_s = 60;       // from a head's end to its body's end
  int io_timeout_s = 30;         // the longest single wait for the socket while handling
  size_t max_connections = 500;  // open at once
  size_t max_head_bytes = 64 * 1024;  // a longer head goes to the handler, which refuses it
};

class ConnectionLoop {
 public:
  // Serves one request from `stream`. `close_connection`: the answer must close it.
  // Sets `connection_closed` when the request asked for that; returns false when the
  // connection broke (nothing more can be read or written).
  using Handler = std::function<bool(httplib::Stream& stream, bool close_connection, bool& connection_closed)>;
  // Looks at a complete head before the handler does: a non-empty result is a whole
  // answer sent instead, and the connection is closed (a body that is never read).
  using HeadCheck = std::function<std::string(std::string_view head)>;

  // Takes ownership of `listen_fd`, a bound, listening socket.
  ConnectionLoop(int listen_fd, LoopOptions options, Handler handler, HeadCheck head_check = {});
  ~ConnectionLoop();
  ConnectionLoop(const ConnectionLoop&) = delete;
  ConnectionLoop& operator=(const ConnectionLoop&) = delete;

  // Accepts and serves until stop(); then closes the listening socket and every idle or
  // half-sent connection, lets the requests already handed to threads finish and be
  // answered, and returns.
  void run();
  void stop();

  struct Connection;

 private:
  void work();
  void hand_back(std::unique_ptr<Connection> c);  // from a thread, after a request
  void wake();

  const LoopOptions options_;
  const Handler handler_;
  const HeadCheck head_check_;
  int listen_fd_;
  int wake_fds_[2] = {-1, -1};  // self-pipe: stop() and hand_back() wake poll()

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Connection>> ready_;     // heads complete, for the threads
  std::vector<std::unique_ptr<Connection>> returned_;  // served, back to waiting
  size_t busy_ = 0;                                   // connections held by threads
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sam3rt::server
