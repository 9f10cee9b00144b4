#include "connection_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "api.h"
#include "sam3rt/error.h"

namespace sam3rt::server {

using Clock = std::chrono::steady_clock;

struct ConnectionLoop::Connection {
  explicit Connection(int socket) : fd(socket) {}
  ~Connection() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd;
  std::string buffer;        // received and not yet consumed by a request
  size_t scanned = 0;        // no head ends before this offset of `buffer`
  Clock::time_point deadline;
  bool in_head = false;      // a head has begun: the deadline is the head's
  int served = 0;            // requests answered on this connection

  bool head_complete() const {
    const size_t from = scanned >= 3 ? scanned - 3 : 0;
    return std::string_view(buffer).find("\r\n\r\n", from) != std::string_view::npos;
  }
};

namespace {

int remaining_ms(Clock::time_point deadline, int cap_s) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, static_cast<long long>(cap_s) * 1000));
}

// Waits until `fd` has one of `events` (or an error or hang-up) within `ms`.
bool wait_for(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ip.clear();
  port = 0;
  if (rc != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// What a handler reads and writes: first the bytes the loop buffered, then the socket
// (non-blocking; every wait bounded by the I/O timeout, reads also by the body deadline).
class BufferedStream final : public httplib::Stream {
 public:
  BufferedStream(ConnectionLoop::Connection& c, Clock::time_point read_deadline, int io_timeout_s)
      : c_(c), read_deadline_(read_deadline), io_timeout_s_(io_timeout_s) {}
  ~BufferedStream() override { c_.buffer.erase(0, pos_); }  // what the request consumed

  bool is_readable() const override {
    return pos_ < c_.buffer.size() || wait_for(c_.fd, POLLIN, remaining_ms(read_deadline_, io_timeout_s_));
  }
  bool is_writable() const override { return wait_for(c_.fd, POLLOUT, io_timeout_s_ * 1000); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < c_.buffer.size()) {
      const size_t n = std::min(size, c_.buffer.size() - pos_);
      std::memcpy(ptr, c_.buffer.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      const ssize_t got = ::recv(c_.fd, ptr, size, 0);
      if (got >= 0) return got;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(c_.fd, POLLIN, remaining_ms(read_deadline_, io_timeout_s_))) return -1;  // too slow
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n >= 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(c_.fd, POLLOUT, io_timeout_s_ * 1000)) return -1;
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(c_.fd, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(c_.fd, false, ip, port); }
  socket_t socket() const override { return c_.fd; }

 private:
  ConnectionLoop::Connection& c_;
  const Clock::time_point read_deadline_;
  const int io_timeout_s_;
  size_t pos_ = 0;
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

}  // namespace

ConnectionLoop::ConnectionLoop(int listen_fd, LoopOptions options, Handler handler, HeadCheck head_check)
    : options_(options), handler_(std::move(handler)), head_check_(std::move(head_check)), listen_fd_(listen_fd) {
  SAM3RT_CHECK(listen_fd_ >= 0, kInvalidArgument, "the connection loop needs a listening socket");
  SAM3RT_CHECK(options_.threads >= 1 && options_.max_connections >= 1 && options_.head_timeout_s >= 1 &&
                   options_.body_timeout_s >= 1 && options_.io_timeout_s >= 1 && options_.idle_timeout_s >= 0,
               kInvalidArgument, "connection loop options must be positive");
  SAM3RT_CHECK(::pipe2(wake_fds_, O_NONBLOCK | O_CLOEXEC) == 0, kIo, "cannot create a pipe: ", std::strerror(errno));
  set_nonblocking(listen_fd_);
}

ConnectionLoop::~ConnectionLoop() {
  stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

void ConnectionLoop::wake() {
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fds_[1], &byte, 1);  // a full pipe already wakes
}

void ConnectionLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  wake();
}

void ConnectionLoop::hand_back(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mutex_);
  --busy_;
  if (stopping_) return;  // `c` closes
  returned_.push_back(std::move(c));
  wake();
}

void ConnectionLoop::work() {
  for (;;) {
    std::unique_ptr<Connection> c;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping and drained
      c = std::move(ready_.front());
      ready_.pop_front();
      stopping = stopping_;
    }
    ++c->served;
    const bool close = stopping || c->served >= options_.keep_alive_requests;
    bool closed = false;
    bool alive = false;
    {
      BufferedStream stream(*c, Clock::now() + std::chrono::seconds(options_.body_timeout_s), options_.io_timeout_s);
      try {
        alive = handler_(stream, close, closed);
      } catch (...) {
        alive = false;  // the handler answers its own errors; a throw here means a broken stream
      }
    }
    if (!alive || closed || close) {
      c.reset();
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_;
      continue;
    }
    hand_back(std::move(c));
  }
}

void ConnectionLoop::run() {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { work(); });
  std::vector<std::unique_ptr<Connection>> waiting;  // for a head: owned by this thread
  std::vector<pollfd> fds;
  std::string chunk(16 * 1024, '\0');
  Clock::time_point accept_pause_until{};

  // Hands a connection whose head is complete (or too long to wait for) to the threads.
  const auto dispatch = [this](std::unique_ptr<Connection> c) {
    if (head_check_ && c->head_complete()) {
      const std::string_view buffered(c->buffer);
      const std::string refusal = head_check_(buffered.substr(0, buffered.find("\r\n\r\n") + 4));
      if (!refusal.empty()) {
        [[maybe_unused]] const ssize_t n = ::send(c->fd, refusal.data(), refusal.size(), MSG_NOSIGNAL);
        return;  // `c` closes
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++busy_;
      ready_.push_back(std::move(c));
    }
    cv_.notify_one();
  };
  const auto head_ready = [this](const Connection& c) {
    return c.head_complete() || c.buffer.size() >= options_.max_head_bytes;
  };

  for (;;) {
    size_t busy = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
      busy = busy_;
      for (auto& c : returned_) {
        // Back from a request: idle, or already holding the start of the next one.
        c->scanned = 0;
        c->in_head = !c->buffer.empty();
        c->deadline = Clock::now() + std::chrono::seconds(c->in_head ? options_.head_timeout_s
                                                                      : options_.idle_timeout_s);
        waiting.push_back(std::move(c));
      }
      returned_.clear();
    }
    // Expired waits close; complete heads go to the threads.
    const auto now = Clock::now();
    for (auto& c : waiting) {
      if (head_ready(*c)) {
        dispatch(std::move(c));
      } else if (now >= c->deadline) {
        if (c->in_head) {
          const std::string answer = http_error_response(
              408, "request timeout",
              "the request head did not arrive within " + std::to_string(options_.head_timeout_s) + " s");
          [[maybe_unused]] const ssize_t n = ::send(c->fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        }
        c.reset();
      }
    }
    waiting.erase(std::remove(waiting.begin(), waiting.end(), nullptr), waiting.end());

    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    const bool accepting = waiting.size() + busy < options_.max_connections && now >= accept_pause_until;
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    int timeout_ms = 1000;
    if (!accepting) timeout_ms = std::min(timeout_ms, 100);
    for (const auto& c : waiting) {
      fds.push_back({c->fd, POLLIN, 0});
      timeout_ms = std::min(timeout_ms, remaining_ms(c->deadline, 1));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;

    if (fds[0].revents != 0) {
      char drain[256];
      while (::read(wake_fds_[0], drain, sizeof(drain)) > 0) {
      }
    }
    for (size_t i = 0; i < waiting.size(); ++i) {
      const short ev = fds[i + 2].revents;
      if (ev == 0) continue;
      Connection& c = *waiting[i];
      bool open = true;
      while (c.buffer.size() < options_.max_head_bytes) {
        const ssize_t got = ::recv(c.fd, chunk.data(), chunk.size(), 0);
        if (got > 0) {
          if (!c.in_head) {
            c.in_head = true;
            c.deadline = Clock::now() + std::chrono::seconds(options_.head_timeout_s);
          }
          c.scanned = c.buffer.size();
          c.buffer.append(chunk.data(), static_cast<size_t>(got));
          if (c.head_complete()) break;
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        open = false;  // closed by the client, or a socket error
        break;
      }
      if (!open) waiting[i].reset();
    }
    waiting.erase(std::remove(waiting.begin(), waiting.end(), nullptr), waiting.end());

    if (accepting && fds[1].revents != 0) {
      while (waiting.size() + busy < options_.max_connections) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          // Out of descriptors: the client stays in the backlog; try again a little later
          // rather than spin on a listener that stays readable.
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_pause_until = Clock::now() + std::chrono::milliseconds(100);
          }
          break;
        }
        int yes = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
        auto c = std::make_unique<Connection>(fd);
        c->in_head = true;  // a new connection owes a head
        c->deadline = Clock::now() + std::chrono::seconds(options_.head_timeout_s);
        waiting.push_back(std::move(c));
      }
    }
  }

  // Stopping: no new connections, idle and half-sent ones close, handed-over requests
  // finish and are answered.
  ::close(listen_fd_);
  listen_fd_ = -1;
  waiting.clear();
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  returned_.clear();
  ready_.clear();  // dispatched in the round that saw the stop, after the threads left
}

}  // namespace sam3rt::server
