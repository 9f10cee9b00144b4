#include "prompt_args.h"

#include <cmath>
#include <exception>
#include <sstream>

#include "sam3rt/error.h"

namespace sam3rt::cli {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) parts.push_back(item);
  if (!s.empty() && s.back() == sep) parts.push_back("");
  return parts;
}

int64_t parse_int(const std::string& s, const CliPrompt& p, const char* what) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SAM3RT_CHECK(used == s.size() && used > 0, kInvalidArgument, p.option, " '", p.text, "': the ", what, " '", s,
               "' is not an integer");
  return v;
}

float parse_float(const std::string& s, const CliPrompt& p) {
  size_t used = 0;
  float v = 0;
  try {
    v = std::stof(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SAM3RT_CHECK(used == s.size() && used > 0, kInvalidArgument, p.option, " '", p.text, "': '", s,
               "' is not a number");
  SAM3RT_CHECK(std::isfinite(v), kInvalidArgument, p.option, " '", p.text, "': '", s, "' is not a finite number");
  return v;
}

// "F:BODY[@OBJ]" -> frame, body, object (1 when omitted). For masks the @OBJ suffix is taken
// only when it is an integer, so a path may contain '@'.
CliPrompt parse_frame_prefix(const std::string& option, const std::string& text, const char* form) {
  CliPrompt p;
  p.option = option;
  p.text = text;
  const size_t colon = text.find(':');
  SAM3RT_CHECK(colon != std::string::npos && colon > 0, kInvalidArgument, option, " '", text, "': expected ", form);
  p.frame = parse_int(text.substr(0, colon), p, "frame");
  SAM3RT_CHECK(p.frame >= 0, kInvalidArgument, option, " '", text, "': frames are numbered from 0");
  std::string body = text.substr(colon + 1);
  const size_t at = body.rfind('@');
  if (at != std::string::npos) {
    const std::string obj = body.substr(at + 1);
    const bool integer = !obj.empty() && obj.find_first_not_of("0123456789-") == std::string::npos;
    if (option != "--mask" || integer) {
      p.object = parse_int(obj, p, "object id");
      body = body.substr(0, at);
    }
  }
  p.path = body;
  return p;
}

}  // namespace

CliPrompt parse_point_arg(const std::string& text) {
  CliPrompt p = parse_frame_prefix("--point", text, "F:x,y[,neg][@OBJ]");
  const std::vector<std::string> parts = split(p.path, ',');
  SAM3RT_CHECK(parts.size() == 2 || parts.size() == 3, kInvalidArgument, "--point '", text,
               "': expected F:x,y[,neg][@OBJ]");
  p.values = {parse_float(parts[0], p), parse_float(parts[1], p)};
  if (parts.size() == 3) {
    const std::string& l = parts[2];
    SAM3RT_CHECK(l == "pos" || l == "neg" || l == "1" || l == "0", kInvalidArgument, "--point '", text,
                 "': the label '", l, "' must be pos (1) or neg (0)");
    p.positive = l == "pos" || l == "1";
  }
  p.path.clear();
  return p;
}

CliPrompt parse_box_arg(const std::string& text) {
  CliPrompt p = parse_frame_prefix("--box", text, "F:x1,y1,x2,y2[@OBJ]");
  const std::vector<std::string> parts = split(p.path, ',');
  SAM3RT_CHECK(parts.size() == 4, kInvalidArgument, "--box '", text, "': expected F:x1,y1,x2,y2[@OBJ]");
  for (const auto& s : parts) p.values.push_back(parse_float(s, p));
  p.path.clear();
  return p;
}

CliPrompt parse_mask_arg(const std::string& text) {
  CliPrompt p = parse_frame_prefix("--mask", text, "F:MASK.png[@OBJ]");
  SAM3RT_CHECK(!p.path.empty(), kInvalidArgument, "--mask '", text, "': expected F:MASK.png[@OBJ]");
  return p;
}

}  // namespace sam3rt::cli
