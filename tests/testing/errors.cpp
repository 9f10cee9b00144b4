#include "testing/errors.h"

#include <gtest/gtest.h>

#include <exception>

namespace sam3rt::testing {

std::string expect_error(ErrorCode code, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a sam3rt::Error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error, expected " << error_code_name(code);
  return {};
}

void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& fragment) {
  const std::string message = expect_error(code, fn);
  EXPECT_NE(message.find(fragment), std::string::npos) << "'" << message << "' lacks '" << fragment << "'";
}

}  // namespace sam3rt::testing
