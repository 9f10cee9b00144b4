// Value types of the sam3rt API: prompts and results. All are plain, copyable values;
// tensors inside results are owned (no references back into a session).
//
// Coordinates are pixels of the ORIGINAL image; boxes are corners x1, y1, x2, y2.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace sam3rt {

struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  bool positive = true;  // exemplar boxes: false = "not this"
};

struct Point {
  float x = 0, y = 0;
  bool positive = true;  // false = exclude this spot
};

// Concept segmentation: every instance of what the text and/or exemplar boxes describe.
// With boxes and no text, the text is "visual" (as the reference does).
struct ConceptPrompt {
  std::string text;
  std::vector<Box> boxes;
};

struct Instance {
  std::string prompt;      // the text (or "visual") the instance answers
  float score = 0;         // sigmoid(logit) * sigmoid(presence)
  float presence = 0;      // sigmoid(presence logit) of the prompt on this image
  Box box;                 // pixel corners in the original image
  at::Tensor mask;         // [H, W] bool at the original resolution
  int64_t area = 0;        // mask pixels
};

struct SegmentResult {
  int64_t width = 0, height = 0;  // original image size
  std::vector<Instance> instances;  // sorted by score, highest first
  std::map<std::string, double> timings_ms;  // per stage
};

}  // namespace sam3rt
