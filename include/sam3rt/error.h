// sam3rt::Error: the one exception type of the library.
//
// Every failure sam3rt reports (bad input, a missing file, a corrupt or mismatched
// checkpoint, an unsupported request) is an Error carrying a code and a message that
// names what is wrong: the file, the checkpoint key, the argument, the shapes. The CLI
// and the server catch it at their boundary; the library never calls exit().
//
// Thread-safety: value type, intentionally copyable.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace sam3rt {

enum class ErrorCode {
  kInvalidArgument,  // a caller passed something malformed (prompt, option, shape)
  kNotFound,         // a file, key or session does not exist
  kIo,               // reading or writing failed
  kCorruption,       // a checkpoint, config, vocabulary or image is malformed
  kUnsupported,      // well-formed but not something sam3rt can do
  kInternal,         // a bug or an unexpected failure inside the tensor engine
};

// Short stable name of a code, e.g. "invalid argument".
inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kCorruption: return "corrupt input";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

}  // namespace sam3rt

// Throws sam3rt::Error(code, message) unless cond holds; the message is the
// concatenation of the remaining arguments (anything with operator<<).
#define SAM3RT_CHECK(cond, code, ...)                                             \
  do {                                                                            \
    if (!(cond)) {                                                                \
      throw ::sam3rt::Error(::sam3rt::ErrorCode::code, ::sam3rt::detail::concat(__VA_ARGS__)); \
    }                                                                             \
  } while (0)

// Throws sam3rt::Error(code, message) unconditionally.
#define SAM3RT_FAIL(code, ...) \
  throw ::sam3rt::Error(::sam3rt::ErrorCode::code, ::sam3rt::detail::concat(__VA_ARGS__))
