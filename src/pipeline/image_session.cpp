#include <ATen/ops/argmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "pipeline/edge.h"
#include "models/sam3/detector.h"
#include "models/tracker/tracker.h"
#include "nn/position_encoding.h"
#include "pipeline/model_impl.h"
#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "sam3rt/error.h"

namespace sam3rt {

namespace {

// The messages for a prompt kind the model cannot serve.
constexpr const char* kNoDetector =
    " has no concept detector: text and exemplar-box prompts need a SAM 3 checkpoint (sam3 or sam3_video)";
constexpr const char* kNoTracker =
    " has no tracker for object prompts (needs sam3_video, sam3_tracker, sam2 or sam2_video)";

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
  const auto& impl = model_impl(model);
  SAM3RT_CHECK(impl.modules->detector.has_value(), kUnsupported, "model type ", model.type_name(), kNoDetector);
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

std::string box_text(const Box& b) {
  return detail::concat("(", b.x1, ",", b.y1, ",", b.x2, ",", b.y2, ")");
}

// An ObjectPrompt in original-image pixels -> the tracker's prompt tensors in model-input
// pixels (x * S / W, y * S / H, as the reference processor scales them), with every
// argument checked against the image and the model.
models::TrackerPrompts object_prompt_to_model(const ObjectPrompt& prompt, int64_t height, int64_t width, double S,
                                              int64_t low_res) {
  SAM3RT_CHECK(!prompt.points.empty() || prompt.box.has_value() || prompt.mask_input.defined(), kInvalidArgument,
               "an object prompt needs points, a box or a mask input");
  // In float32 like the reference (a float tensor times the Python float S / W).
  const float sx = static_cast<float>(S / static_cast<double>(width));
  const float sy = static_cast<float>(S / static_cast<double>(height));
  const auto fopts = at::TensorOptions().dtype(at::kFloat);
  models::TrackerPrompts tp;
  if (!prompt.points.empty()) {
    std::vector<float> xy;
    std::vector<int64_t> labels;
    for (size_t i = 0; i < prompt.points.size(); ++i) {
      const Point& p = prompt.points[i];
      SAM3RT_CHECK(std::isfinite(p.x) && std::isfinite(p.y) && p.x >= 0 && p.y >= 0 && p.x <= width &&
                       p.y <= height,
                   kInvalidArgument, "point ", i + 1, " (", p.x, ",", p.y, ") lies outside the ", width, "x", height,
                   " image");
      xy.push_back(p.x * sx);
      xy.push_back(p.y * sy);
      labels.push_back(p.positive ? 1 : 0);
    }
    const int64_t n = static_cast<int64_t>(prompt.points.size());
    tp.points = at::tensor(xy, fopts).view({1, 1, n, 2});                                         // [1, 1, N, 2]
    tp.labels = at::tensor(labels, at::TensorOptions().dtype(at::kLong)).view({1, 1, n});  // [1, 1, N]
  }
  if (prompt.box) {
    const Box& b = *prompt.box;
    SAM3RT_CHECK(std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2),
                 kInvalidArgument, "box ", box_text(b), " is not finite");
    SAM3RT_CHECK(b.x2 > b.x1 && b.y2 > b.y1, kInvalidArgument, "box ", box_text(b), " needs x2 > x1 and y2 > y1");
    SAM3RT_CHECK(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= width && b.y2 <= height, kInvalidArgument, "box ", box_text(b),
                 " lies outside the ", width, "x", height, " image");
    SAM3RT_CHECK(b.positive, kInvalidArgument, "box ", box_text(b),
                 " is negative: an object prompt takes one positive box (negative boxes are concept exemplars)");
    tp.boxes = at::tensor(std::vector<float>{b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy}, fopts).view({1, 1, 4});
  }
  if (prompt.mask_input.defined()) {
    const at::Tensor& mi = prompt.mask_input;
    const bool binary = mi.scalar_type() == at::kBool || mi.scalar_type() == at::kByte;
    const bool floating = at::isFloatingType(mi.scalar_type());
    SAM3RT_CHECK(binary || floating, kInvalidArgument, "mask input must be float logits [", low_res, ", ", low_res,
                 "] or a bool / uint8 mask [", height, ", ", width, "], got dtype ", mi.scalar_type());
    at::Tensor m = mi.dim() == 3 && mi.size(0) == 1 ? mi.squeeze(0) : mi;
    if (binary) {
      SAM3RT_CHECK(m.dim() == 2 && m.size(0) == height && m.size(1) == width, kInvalidArgument,
                   "a binary mask input must have the image's size ", width, "x", height, " (H, W = ", height, ", ",
                   width, "), got ", mi.sizes());
      // Object = +10, background = -10 (SAM 2's mask-prompt scaling); resized to
      // 4G x 4G (bilinear, antialiased) by the tracker.
      tp.mask_input = m.ne(0).to(at::kFloat).mul(20.0).sub(10.0).view({1, 1, height, width});
    } else {
      SAM3RT_CHECK(m.dim() == 2 && m.size(0) == low_res && m.size(1) == low_res, kInvalidArgument,
                   "float mask input must be low-resolution logits [", low_res, ", ", low_res,
                   "] (a previous result's low_res_logits[best]), got ", mi.sizes(),
                   "; pass a binary mask of the image's size as bool or uint8");
      SAM3RT_CHECK(at::isfinite(m).all().item<bool>(), kInvalidArgument, "mask input logits contain NaN or Inf");
      tp.mask_input = m.to(at::kFloat).contiguous().view({1, 1, low_res, low_res});
    }
  }
  return tp;
}


// The tracker's prediction for one prompt set -> candidates at the original resolution.
void postprocess_object(const models::TrackerPrediction& p, int64_t height, int64_t width, ObjectResult& r) {
  const at::Tensor logits = p.masks[0][0].to(at::kFloat).cpu().contiguous();  // [M, 4G, 4G]
  const at::Tensor iou = p.iou_scores[0][0].to(at::kFloat).cpu().contiguous();  // [M]
  const float object_score = at::sigmoid(p.object_score_logits.reshape({-1})[0].to(at::kFloat)).item<float>();
  const at::Tensor masks = pipeline::upsample_mask_logits(logits, height, width).gt(0);  // [M, H, W]
  r.low_res_logits = logits;
  r.best = static_cast<int>(at::argmax(iou).item<int64_t>());
  for (int64_t i = 0; i < logits.size(0); ++i) {
    ObjectMask c;
    c.mask = masks[i].clone();
    c.iou = iou[i].item<float>();
    c.object_score = object_score;
    c.box = pipeline::mask_box(c.mask);
    c.area = c.mask.sum().item<int64_t>();
    r.candidates.push_back(std::move(c));
  }
}

}  // namespace

// One image's features. SAM 3: the ViT output once, each neck on first use. SAM 2: the
// tracker's features at once (Hiera and its neck are the tracker's only encoder).
struct ImageSession::State {
  at::Tensor rgb;
  at::Tensor vit;  // [1, D, G, G] (SAM 3)
  double vision_ms = 0;
  std::optional<models::DetectorImageFeatures> detector;
  double detector_neck_ms = 0;
  std::optional<models::TrackerImageFeatures> tracker;
  double tracker_neck_ms = 0;

  // The detector's neck levels and position encoding on the shared ViT output.
  const models::DetectorImageFeatures& detector_features(const Model& model) {
    if (!detector) {
      const auto& m = *model_impl(model).modules;
      SAM3RT_CHECK(m.detector.has_value(), kUnsupported, "model type ", model.type_name(), kNoDetector);
      const auto t0 = Clock::now();
      models::DetectorImageFeatures f;
      f.vit = vit;
      f.fpn = m.detector->neck.forward(vit);
      const at::Tensor& coarse = f.fpn.back();  // [1, d, G, G]
      f.pos = nn::sine_position_grid(coarse.size(2), coarse.size(3), coarse.size(1), coarse.options());
      detector = std::move(f);
      detector_neck_ms = ms_since(t0);
    }
    return *detector;
  }

  // The tracker's neck (and the decoder's skip features) on the shared ViT output.
  const models::TrackerImageFeatures& tracker_features(const Model& model) {
    if (!tracker) {
      const auto& m = *model_impl(model).modules;
      SAM3RT_CHECK(m.tracker.has_value(), kUnsupported, "model type ", model.type_name(), kNoTracker);
      SAM3RT_CHECK(m.sam3_tracker_encoder.has_value(), kInternal, "tracker features missing for ",
                   model.type_name());
      const auto t0 = Clock::now();
      tracker = models::encode_tracker_levels(*m.tracker, *m.sam3_tracker_encoder,
                                              m.sam3_tracker_encoder->encode_vit(vit), single_image_options());
      tracker_neck_ms = ms_since(t0);
    }
    return *tracker;
  }

  static models::TrackerImageOptions single_image_options() {
    models::TrackerImageOptions options;
    options.add_no_memory_embedding = true;  // Meta's single-image predictor
    return options;
  }
};

ImageSession::ImageSession(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  SAM3RT_CHECK(model_ != nullptr, kInvalidArgument, "ImageSession needs a loaded model");
}
ImageSession::~ImageSession() = default;
ImageSession::ImageSession(ImageSession&&) noexcept = default;
ImageSession& ImageSession::operator=(ImageSession&&) noexcept = default;

void ImageSession::set_image(const at::Tensor& rgb) {
  return pipeline::at_edge([&] {
    check_image(rgb);
    const auto& impl = model_impl(*model_);
    const auto& m = *impl.modules;
    auto state = std::make_unique<State>();
    state->rgb = rgb;
    const auto t0 = Clock::now();
    const at::Tensor pixels = impl.preprocess(rgb);  // [1, 3, S, S]
    if (m.vision_backbone) {
      state->vit = m.vision_backbone->forward(pixels);  // [1, D, G, G]
    } else {
      SAM3RT_CHECK(m.tracker && m.frame_encoder, kInternal, "model without an image encoder");
      state->tracker = models::encode_tracker_image(*m.tracker, *m.frame_encoder, pixels, State::single_image_options());
    }
    state->vision_ms = ms_since(t0);
    state_ = std::move(state);
  });
}

bool ImageSession::has_image() const { return state_ != nullptr; }

SegmentResult ImageSession::segment(const ConceptPrompt& prompt, const SegmentOptions& options) {
  return segment(std::vector<ConceptPrompt>{prompt}, options).front();
}

std::vector<SegmentResult> ImageSession::segment(const std::vector<ConceptPrompt>& prompts,
                                                 const SegmentOptions& options) {
  return pipeline::at_edge([&] {
    SAM3RT_CHECK(state_ != nullptr, kInvalidArgument, "no image: call set_image() first");
    const models::DetectorImageFeatures& features = state_->detector_features(*model_);
    return run_prompts(*model_, features, 0, state_->rgb.size(0), state_->rgb.size(1), prompts, options,
                       state_->vision_ms + state_->detector_neck_ms);
  });
}

ObjectResult ImageSession::predict(const ObjectPrompt& prompt) {
  return pipeline::at_edge([&] {
    SAM3RT_CHECK(state_ != nullptr, kInvalidArgument, "no image: call set_image() first");
    const int64_t height = state_->rgb.size(0), width = state_->rgb.size(1);
    // Check the prompt before any work (and before the tracker neck runs).
    SAM3RT_CHECK(model_->can_segment_objects(), kUnsupported, "model type ", model_->type_name(), kNoTracker);
    const int64_t low_res = model_->low_res_mask_size();
    const double S = static_cast<double>(model_impl(*model_).modules->tracker->prompt_encoder.config().image_size);
    const models::TrackerPrompts tp = object_prompt_to_model(prompt, height, width, S, low_res);

    const models::TrackerImageFeatures& features = state_->tracker_features(*model_);
    ObjectResult r;
    r.width = width;
    r.height = height;
    // The image's encoding costs (paid once per set_image) are reported with every result.
    r.timings_ms["vision_encoder"] = state_->vision_ms;
    r.timings_ms["tracker_neck"] = state_->tracker_neck_ms;
    auto t0 = Clock::now();
    const models::TrackerPrediction p =
        models::predict_tracker(*model_impl(*model_).modules->tracker, features, tp, prompt.multimask);
    r.timings_ms["tracker_decoder"] = ms_since(t0);
    t0 = Clock::now();
    postprocess_object(p, height, width, r);
    r.timings_ms["postprocess"] = ms_since(t0);
    return r;
  });
}

// A request's mode (explicit, or read from its prompts), with its prompts checked
// against it: the one place that decides, for the CLI, the server and the library.
std::string resolve_mode(const SegmentRequest& r) {
  std::string mode = r.mode;
  if (mode.empty()) {
    if (!r.points.empty() || r.mask_input.defined()) {
      mode = "object";
    } else if (!r.texts.empty()) {
      mode = "concept";
    } else if (!r.boxes.empty()) {
      SAM3RT_FAIL(kInvalidArgument,
                  "boxes alone are ambiguous: set the mode to concept (find every instance like the exemplar boxes) "
                  "or object (segment the one object in the box)");
    } else {
      SAM3RT_FAIL(kInvalidArgument, "no prompt: give a text, boxes, points or a mask input");
    }
  }
  SAM3RT_CHECK(mode == "concept" || mode == "object", kInvalidArgument, "the mode must be concept or object, not '",
               mode, "'");
  if (mode == "concept") {
    SAM3RT_CHECK(r.points.empty(), kInvalidArgument, "points belong to object mode");
    SAM3RT_CHECK(!r.mask_input.defined(), kInvalidArgument, "a mask input belongs to object mode");
    SAM3RT_CHECK(!r.texts.empty() || !r.boxes.empty(), kInvalidArgument, "concept mode needs a text and/or boxes");
    SAM3RT_CHECK(r.boxes.empty() || r.texts.size() <= 1, kInvalidArgument,
                 "exemplar boxes go with a single text (got ", r.texts.size(), ")");
    for (size_t i = 0; i < r.texts.size(); ++i) {
      SAM3RT_CHECK(!r.texts[i].empty(), kInvalidArgument, "text ", i + 1, " is empty");
    }
  } else {
    SAM3RT_CHECK(r.texts.empty(), kInvalidArgument, "a text belongs to concept mode");
    SAM3RT_CHECK(!r.points.empty() || !r.boxes.empty() || r.mask_input.defined(), kInvalidArgument,
                 "object mode needs points, a box or a mask input");
    SAM3RT_CHECK(r.boxes.size() <= 1, kInvalidArgument, "object mode takes at most one box (got ", r.boxes.size(), ")");
  }
  return mode;
}

ImageAnswer ImageSession::run(const SegmentRequest& request) {
  return pipeline::at_edge([&] {
    SAM3RT_CHECK(state_ != nullptr, kInvalidArgument, "no image: call set_image() first");
    ImageAnswer a;
    a.mode = resolve_mode(request);
    a.model = model_->type_name();
    a.random_weights = model_->has_random_weights();
    a.image = state_->rgb;
    a.height = state_->rgb.size(0);
    a.width = state_->rgb.size(1);
    if (a.mode == "concept") {
      std::vector<ConceptPrompt> prompts;
      if (request.texts.empty()) prompts.push_back({"", request.boxes});
      for (const auto& t : request.texts) prompts.push_back({t, request.boxes});
      std::vector<SegmentResult> results = segment(prompts, request.options);
      for (size_t i = 0; i < results.size(); ++i) {
        for (const auto& [stage, ms] : results[i].timings_ms) {
          if (stage == "vision_encoder" && i > 0) continue;  // the image was encoded once
          a.timings_ms[stage] += ms;
        }
        for (auto& inst : results[i].instances) a.instances.push_back(std::move(inst));
      }
      std::stable_sort(a.instances.begin(), a.instances.end(),
                       [](const Instance& x, const Instance& y) { return x.score > y.score; });
      return a;
    }
    ObjectPrompt p;
    p.points = request.points;
    if (!request.boxes.empty()) p.box = request.boxes.front();
    p.mask_input = request.mask_input;
    p.multimask = request.multimask.value_or(p.points.size() == 1 && !p.box.has_value());
    const ObjectResult r = predict(p);
    // Candidates by predicted IoU, highest first (the decoder's order among equals).
    std::vector<int> order(r.candidates.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](int x, int y) { return r.candidates[x].iou > r.candidates[y].iou; });
    if (request.best && order.size() > 1) order.resize(1);
    for (int i : order) {
      const ObjectMask& c = r.candidates[i];
      a.instances.push_back(Instance{"object", c.iou, c.object_score, c.box, c.mask, c.area});
      a.candidates.push_back(CandidateInfo{i, c.iou, c.object_score, i == r.best, r.low_res_logits[i]});
    }
    a.object_prompt = std::move(p);
    a.mask_input_name = request.mask_input_name;
    a.timings_ms = r.timings_ms;
    return a;
  });
}

std::vector<std::vector<SegmentResult>> segment_images(const std::shared_ptr<const Model>& model,
                                                       const std::vector<at::Tensor>& images,
                                                       const std::vector<ConceptPrompt>& prompts,
                                                       const SegmentOptions& options) {
  return pipeline::at_edge([&] {
    SAM3RT_CHECK(model != nullptr, kInvalidArgument, "segment_images needs a loaded model");
    SAM3RT_CHECK(!images.empty(), kInvalidArgument, "segment_images needs at least one image");
    for (const auto& im : images) check_image(im);
    SAM3RT_CHECK(model->can_segment_concepts(), kUnsupported, "model type ", model->type_name(), kNoDetector);
    const auto t0 = Clock::now();
    const at::Tensor pixels = model_impl(*model).preprocess(images);
    const auto features = models::encode_detector_image(*model_impl(*model).modules, pixels);
    const double encode_ms = ms_since(t0);
    std::vector<std::vector<SegmentResult>> out;
    for (size_t i = 0; i < images.size(); ++i) {
      out.push_back(run_prompts(*model, features, static_cast<int64_t>(i), images[i].size(0), images[i].size(1),
                                prompts, options, encode_ms));
    }
    return out;
  });
}

}  // namespace sam3rt
