// Value types of the sam3rt API: prompts and results. All are plain, copyable values;
// tensors inside results are owned (no references back into a session).
//
// Coordinates are pixels of the ORIGINAL image; boxes are corners x1, y1, x2, y2.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sam3rt/options.h"

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

// Object (interactive) segmentation: the one object that clicks, a box and/or a mask
// point at, as SAM does. Give at least one of points, box and mask_input.
struct ObjectPrompt {
  std::vector<Point> points;  // clicks: positive = on the object, negative = not on it
  std::optional<Box> box;     // a box around the object (positive; pixel corners)
  // Optional dense prompt, either
  //   - float [4G, 4G] low-resolution mask LOGITS (4G = Model::low_res_mask_size()), e.g.
  //     the previous result's low_res_logits[best], to refine it (SAM's iterative loop); or
  //   - bool / uint8 [H, W] of the image's size: a binary mask (non-zero = object), taken
  //     as logits of +-10 and resized to 4G x 4G.
  at::Tensor mask_input;
  // true: the decoder's three candidate masks (best for an ambiguous prompt such as one
  // click); false: one mask.
  bool multimask = true;
};

// One candidate mask of an object prompt.
struct ObjectMask {
  at::Tensor mask;         // [H, W] bool at the original resolution (low-res logits > 0, bilinear)
  float iou = 0;           // the decoder's predicted IoU of this mask
  float object_score = 0;  // sigmoid(object-score logit): whether the object is there at all
                           // (one value per prompt, repeated in every candidate)
  Box box;                 // tight box of the mask, pixel corners (all 0 for an empty mask)
  int64_t area = 0;        // mask pixels
};

struct ObjectResult {
  int64_t width = 0, height = 0;      // original image size
  std::vector<ObjectMask> candidates;  // in the decoder's order: 3 with multimask, else 1
  // [M, 4G, 4G] float32 mask logits of the candidates, in the same order; pass
  // low_res_logits[best] back as ObjectPrompt::mask_input to refine.
  at::Tensor low_res_logits;
  int best = 0;                               // index of the candidate with the highest IoU
  std::map<std::string, double> timings_ms;  // per stage
};

// One segmentation request as `sam3rt segment`'s flags and the server's JSON state it:
// the prompts of either mode, the mode itself optional. ImageSession::run resolves and
// checks it (the one place that does) and answers with an ImageAnswer.
struct SegmentRequest {
  // "concept", "object", or empty: points or a mask input mean object, texts concept;
  // boxes alone are ambiguous (an error asking for the mode), no prompt is an error.
  std::string mode;
  std::vector<std::string> texts;  // concept: one prompt per text, each with every box
  std::vector<Box> boxes;          // concept: exemplars (a single text at most); object: one positive box
  std::vector<Point> points;       // object
  // Object: a mask of the image's size (bool / uint8) or low-resolution logits, as
  // ObjectPrompt::mask_input.
  at::Tensor mask_input;
  std::string mask_input_name;  // how the answer echoes the mask input (a file name); empty: true
  // Object: three candidates or one; unset = SAM's rule: three for a single click
  // without a box (the ambiguous case), else one.
  std::optional<bool> multimask;
  bool best = false;        // object: only the candidate with the highest predicted IoU
  SegmentOptions options;   // concept: threshold, NMS, how many
};

// An object-mode instance's place among the decoder's candidates.
struct CandidateInfo {
  int slot = 0;              // the decoder's output index
  float iou = 0;             // predicted IoU
  float object_score = 0;    // sigmoid(object-score logit)
  bool best = false;         // the highest predicted IoU of the answer
  at::Tensor low_res_logits; // [4G, 4G] float32 logits of this candidate (ObjectPrompt::mask_input)
};

// The answer to a SegmentRequest, in the one form every output is rendered from
// (render.h: result JSON, overlays, mask PNGs).
struct ImageAnswer {
  std::string mode;             // "concept" or "object"
  std::string model;            // Model::type_name()
  bool random_weights = false;  // Model::has_random_weights(): masks are meaningless
  int64_t width = 0, height = 0;
  at::Tensor image;             // the RGB image answered, [H, W, 3] uint8 (for overlays)
  // Concept: every prompt's instances, by score (highest first). Object: the candidates
  // by predicted IoU, highest first (prompt "object", score = IoU, presence = object score).
  std::vector<Instance> instances;
  std::vector<CandidateInfo> candidates;  // object mode: one per instance
  std::optional<ObjectPrompt> object_prompt;  // object mode: the prompt run (multimask resolved)
  std::string mask_input_name;                // the request's, echoed with the prompt
  std::map<std::string, double> timings_ms;
};

}  // namespace sam3rt
