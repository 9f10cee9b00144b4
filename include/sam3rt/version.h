// The library's version, e.g. "0.4.0": the project version libsam3rt.so, its CMake package
// and its pkg-config file carry (sam3rt_version() in the C API gives the same string).
#pragma once

namespace sam3rt {

const char* version() noexcept;

}  // namespace sam3rt
