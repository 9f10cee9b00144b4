// sam3rt's model and image session.
//
// Basic use:
//   sam3rt::ModelOptions mo;
//   mo.model_dir = "facebook-sam3";                 // config.json + model.safetensors
//   auto model = sam3rt::Model::load(mo);           // throws sam3rt::Error
//   sam3rt::ImageSession session(model);
//   session.set_image(rgb);                         // [H, W, 3] uint8: encodes once
//   auto shoes = session.segment({"shoe"});         // every shoe: masks, boxes, scores
//   auto cars = session.segment({"car"});           // same image, no re-encoding
//
// Object (interactive) segmentation on the same session (models with the tracker:
// facebook/sam3's sam3_video layout, or sam3_tracker):
//   sam3rt::ObjectPrompt click;
//   click.points = {{420, 310}};                    // original-image pixels
//   auto r = session.predict(click);                // 3 candidates, r.best has the top IoU
//   click.points.push_back({500, 330, false});      // a negative click, then refine:
//   click.mask_input = r.low_res_logits[r.best];
//   click.multimask = false;
//   auto refined = session.predict(click);
//
// A Model is immutable after load() apart from an internal, locked text-feature cache
// (the 64 most recently used prompts), and may be shared by any number of threads and
// sessions. An ImageSession holds one image's features and is not thread-safe: use one
// per thread or request.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "sam3rt/options.h"
#include "sam3rt/types.h"

namespace sam3rt {

class Model {
 public:
  // Loads config.json and model.safetensors from options.model_dir (the facebook/sam3
  // layout, or the sam3 / sam3_tracker layouts). Throws Error: kNotFound for missing
  // files, kCorruption for a malformed file or a checkpoint that does not match its
  // config (every key problem listed), kUnsupported for an unknown model type.
  static std::shared_ptr<const Model> load(const ModelOptions& options);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // "sam3", "sam3_tracker", "sam3_video", "sam2" or "sam2_video".
  std::string type_name() const;
  // One line naming how this model computes: device, precision, the kernels chosen for
  // linear layers and attention (for bf16 on a CPU: which bf16 path, the measured rates,
  // and whether the CPU fell back to fp32).
  std::string compute_path() const;
  bool can_segment_concepts() const;  // has the detector (text / exemplar prompts)
  bool can_segment_objects() const;   // has the tracker (points / box / mask prompts)
  bool can_track_video() const;       // has the tracker's memory (VideoSession)
  int64_t image_size() const;         // model input side, 1008 for facebook/sam3
  // Side 4G of the tracker's low-resolution mask logits (288 for facebook/sam3); 0 when
  // the model has no tracker.
  int64_t low_res_mask_size() const;
  const ModelOptions& options() const;
  // True for checkpoints written by `sam3rt make-random-checkpoint`: their masks are
  // meaningless (benchmarks and demos only).
  bool has_random_weights() const;

  // Memory one encoded image holds in an ImageSession of this model (its pixels and the
  // image features: backbone output, detector and tracker neck levels), estimated from
  // the config, in bytes; on a GPU the features are device memory.
  size_t estimated_image_bytes(int64_t width, int64_t height) const;

  struct Impl;  // the library's own (src/pipeline/model_impl.h)

 private:
  friend const Impl& model_impl(const Model& model);
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class ImageSession {
 public:
  explicit ImageSession(std::shared_ptr<const Model> model);
  ~ImageSession();
  ImageSession(ImageSession&&) noexcept;
  ImageSession& operator=(ImageSession&&) noexcept;

  // rgb [H, W, 3] uint8. Runs the vision backbone (ViT) once; later segment() and
  // predict() calls reuse it. The detector's and the tracker's necks run on the first
  // segment() / predict() and are cached too, so a sam3_video model encodes the ViT once
  // for both. Throws Error(kInvalidArgument) for another shape or dtype or an empty image.
  void set_image(const at::Tensor& rgb);
  bool has_image() const;

  // Concept segmentation of the current image. Throws Error(kInvalidArgument) for no
  // image, an empty prompt, or a box outside the image / with x2 <= x1 or y2 <= y1;
  // Error(kUnsupported) when the model has no detector.
  SegmentResult segment(const ConceptPrompt& prompt, const SegmentOptions& options = {});
  // Several prompts against the one encoded image, in order.
  std::vector<SegmentResult> segment(const std::vector<ConceptPrompt>& prompts, const SegmentOptions& options = {});

  // Object segmentation of the current image (SAM's interactive task): masks at the
  // original resolution, each with its predicted IoU and the object score, plus the
  // low-resolution logits to feed back as mask_input. Coordinates are original-image
  // pixels (scaled to the model input by S / W and S / H as the reference processor
  // does). Throws Error(kInvalidArgument) for no image, an empty prompt, a point outside
  // the image, a box outside the image / with x2 <= x1 or y2 <= y1 / marked negative, or
  // a mask_input of another size or kind (see ObjectPrompt); Error(kUnsupported) when the
  // model has no tracker. The decoder's pixel features are Meta's (the coarsest tracker
  // level plus no_memory_embedding); transformers' Sam3TrackerModel omits that vector.
  ObjectResult predict(const ObjectPrompt& prompt);

  // A request as the CLI and the server state it (types.h, SegmentRequest): resolves its
  // mode, checks its prompts against the image and the model, runs segment() for every
  // concept prompt (merged, by score) or predict() for the object prompt (candidates by
  // IoU, the best only with request.best), and returns the answer every output is
  // rendered from (render.h). Throws Error(kInvalidArgument) for an ambiguous or
  // inconsistent request (naming the field), as segment() and predict() do for their
  // prompts, Error(kUnsupported) when the model cannot serve the mode.
  ImageAnswer run(const SegmentRequest& request);

  struct State;

 private:
  std::shared_ptr<const Model> model_;
  std::unique_ptr<State> state_;
};

// The mode a request runs in ("concept" or "object"), its prompts checked against it:
// what ImageSession::run decides first, callable before any model is loaded (so that a
// command can fail fast). Throws Error(kInvalidArgument) as run() does.
std::string resolve_mode(const SegmentRequest& request);

// Runs the backbone once on a batch of images and segments each with every prompt:
// result[i][j] is image i with prompt j.
std::vector<std::vector<SegmentResult>> segment_images(const std::shared_ptr<const Model>& model,
                                                       const std::vector<at::Tensor>& images,
                                                       const std::vector<ConceptPrompt>& prompts,
                                                       const SegmentOptions& options = {});

}  // namespace sam3rt
