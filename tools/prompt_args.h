// The prompt arguments of `sam3rt track` ("--point F:x,y[,neg][@OBJ]", "--box
// F:x1,y1,x2,y2[@OBJ]", "--mask F:MASK.png[@OBJ]"), parsed into values. Free of ATen, so
// that fuzz/prompt_args_fuzz.cpp can run them on arbitrary strings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sam3rt::cli {

// One prompt from the command line, in video pixels.
struct CliPrompt {
  std::string option, text;  // "--point" and the argument as given
  int64_t frame = 0, object = 1;
  std::vector<float> values;  // x, y (point) or x1, y1, x2, y2 (box): finite numbers
  bool positive = true;
  std::string path;  // --mask
};

// Each throws Error(kInvalidArgument) naming the option, the argument and what is wrong.
CliPrompt parse_point_arg(const std::string& text);
CliPrompt parse_box_arg(const std::string& text);
CliPrompt parse_mask_arg(const std::string& text);

}  // namespace sam3rt::cli
