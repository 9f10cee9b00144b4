// Expecting sam3rt::Error from a call, as every test of bad input does.
#pragma once

#include <functional>
#include <string>

#include "sam3rt/error.h"

namespace sam3rt::testing {

// Runs fn, expecting a sam3rt::Error with `code`; returns its message (empty, with a test
// failure recorded, when fn did not throw one).
std::string expect_error(ErrorCode code, const std::function<void()>& fn);

// The same, and the message must contain `fragment`.
void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& fragment);

}  // namespace sam3rt::testing
