#include <ATen/ops/cat.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <chrono>

#include "models/sam3/detector.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/error.h"

namespace sam3rt {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void check_image(const at::Tensor& rgb) {
  SAM3RT_CHECK(rgb.defined() && rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == at::kByte,
               kInvalidArgument, "image must be an [H, W, 3] uint8 RGB tensor");
  SAM3RT_CHECK(rgb.size(0) > 0 && rgb.size(1) > 0, kInvalidArgument, "image is empty (", rgb.size(1), "x",
               rgb.size(0), ")");
}

// Boxes in pixels -> normalised cxcywh [1, K, 4] and labels [1, K]. Every box must lie in
// the image with positive width and height.
void boxes_to_model(const std::vector<Box>& boxes, int64_t height, int64_t width, at::Tensor& out_boxes,
                    at::Tensor& out_labels) {
  std::vector<float> b;
  std::vector<int64_t> l;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& x = boxes[i];
    SAM3RT_CHECK(x.x2 > x.x1 && x.y2 > x.y1, kInvalidArgument, "box ", i + 1, " (", x.x1, ",", x.y1, ",", x.x2, ",",
                 x.y2, ") needs x2 > x1 and y2 > y1");
    SAM3RT_CHECK(x.x1 >= 0 && x.y1 >= 0 && x.x2 <= width && x.y2 <= height, kInvalidArgument, "box ", i + 1, " (",
                 x.x1, ",", x.y1, ",", x.x2, ",", x.y2, ") lies outside the ", width, "x", height, " image");
    b.insert(b.end(), {(x.x1 + x.x2) / 2 / width, (x.y1 + x.y2) / 2 / height, (x.x2 - x.x1) / width,
                       (x.y2 - x.y1) / height});
    l.push_back(x.positive ? 1 : 0);
  }
  const int64_t k = static_cast<int64_t>(boxes.size());
  out_boxes = at::tensor(b, at::TensorOptions().dtype(at::kFloat)).view({1, k, 4});
  out_labels = at::tensor(l, at::TensorOptions().dtype(at::kLong)).view({1, k});
}

std::vector<SegmentResult> run_prompts(const Model& model, const models::DetectorImageFeatures& image, int64_t b,
                                       int64_t height, int64_t width, const std::vector<ConceptPrompt>& prompts,
                                       const SegmentOptions& options, double encode_ms) {
  const auto& impl = model.impl();
  SAM3RT_CHECK(impl.modules->detector.has_value(), kUnsupported, "model type ", model.type_name(),
               " has no concept detector (needs sam3 or sam3_video)");
  models::DetectorImageFeatures one;
  for (const auto& level : image.fpn) one.fpn.push_back(level.narrow(0, b, 1));
  one.pos = image.pos;
  std::vector<SegmentResult> results;
  for (const auto& p : prompts) {
    SAM3RT_CHECK(!p.text.empty() || !p.boxes.empty(), kInvalidArgument,
                 "a concept prompt needs a text, exemplar boxes, or both");
    SegmentResult r;
    r.width = width;
    r.height = height;
    r.timings_ms["vision_encoder"] = encode_ms;
    const std::string text = p.text.empty() ? "visual" : p.text;  // the reference's text for box-only prompts
    auto t0 = Clock::now();
    const auto tf = impl.text_features(text);
    r.timings_ms["text_encoder"] = ms_since(t0);
    models::DetectorPrompt dp;
    dp.text = tf.features;
    dp.text_valid = tf.valid;
    if (!p.boxes.empty()) boxes_to_model(p.boxes, height, width, dp.boxes, dp.box_labels);
    dp.geometry_without_boxes = !impl.options.hf_text_only;
    t0 = Clock::now();
    const models::DetectorOutput out = models::detect(*impl.modules, one, dp);
    r.timings_ms["detector"] = ms_since(t0);
    t0 = Clock::now();
    r.instances = pipeline::postprocess_detections(out.pred_logits[0], out.presence_logits[0], out.pred_boxes[0],
                                                   out.pred_masks[0], height, width, text, options);
    r.timings_ms["postprocess"] = ms_since(t0);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

struct ImageSession::State {
  at::Tensor rgb;
  models::DetectorImageFeatures features;
  double encode_ms = 0;
};

ImageSession::ImageSession(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  SAM3RT_CHECK(model_ != nullptr, kInvalidArgument, "ImageSession needs a loaded model");
}
ImageSession::~ImageSession() = default;
ImageSession::ImageSession(ImageSession&&) noexcept = default;
ImageSession& ImageSession::operator=(ImageSession&&) noexcept = default;

void ImageSession::set_image(const at::Tensor& rgb) {
  check_image(rgb);
  auto state = std::make_unique<State>();
  state->rgb = rgb;
  const auto t0 = Clock::now();
  at::Tensor pixels = pipeline::preprocess_image(rgb, model_->image_size());
  state->features = models::encode_detector_image(*model_->impl().modules, pixels);
  state->encode_ms = ms_since(t0);
  state_ = std::move(state);
}

bool ImageSession::has_image() const { return state_ != nullptr; }

SegmentResult ImageSession::segment(const ConceptPrompt& prompt, const SegmentOptions& options) {
  return segment(std::vector<ConceptPrompt>{prompt}, options).front();
}

std::vector<SegmentResult> ImageSession::segment(const std::vector<ConceptPrompt>& prompts,
                                                 const SegmentOptions& options) {
  SAM3RT_CHECK(state_ != nullptr, kInvalidArgument, "no image: call set_image() first");
  return run_prompts(*model_, state_->features, 0, state_->rgb.size(0), state_->rgb.size(1), prompts, options,
                     state_->encode_ms);
}

std::vector<std::vector<SegmentResult>> segment_images(const std::shared_ptr<const Model>& model,
                                                       const std::vector<at::Tensor>& images,
                                                       const std::vector<ConceptPrompt>& prompts,
                                                       const SegmentOptions& options) {
  SAM3RT_CHECK(model != nullptr, kInvalidArgument, "segment_images needs a loaded model");
  SAM3RT_CHECK(!images.empty(), kInvalidArgument, "segment_images needs at least one image");
  for (const auto& im : images) check_image(im);
  const auto t0 = Clock::now();
  at::Tensor pixels = pipeline::preprocess_batch(images, model->image_size());
  const auto features = models::encode_detector_image(*model->impl().modules, pixels);
  const double encode_ms = ms_since(t0);
  std::vector<std::vector<SegmentResult>> out;
  for (size_t i = 0; i < images.size(); ++i) {
    out.push_back(run_prompts(*model, features, static_cast<int64_t>(i), images[i].size(0), images[i].size(1),
                              prompts, options, encode_ms));
  }
  return out;
}

}  // namespace sam3rt
