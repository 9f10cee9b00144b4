// The library's edge: ATen reports failures as c10::Error; a caller of sam3rt sees
// sam3rt::Error only (kInternal, with ATen's message), so one catch serves the CLI, the
// server and any program.
#pragma once

#include <c10/util/Exception.h>

#include <string>

#include "sam3rt/error.h"

namespace sam3rt::pipeline {

// Runs fn; a c10::Error it throws leaves as Error(kInternal).
template <typename F>
auto at_edge(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInternal, std::string("ATen: ") + e.what_without_backtrace());
  }
}

}  // namespace sam3rt::pipeline
