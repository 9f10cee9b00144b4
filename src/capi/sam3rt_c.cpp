// The C API (include/sam3rt/sam3rt_c.h) over the public C++ API: handles own the C++
// objects, every call runs inside `guarded`, which turns exceptions into a status plus this
// thread's error message. No logic of its own beyond converting values.
#include "sam3rt/sam3rt_c.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "sam3rt/sam3rt.h"

struct sam3rt_model {
  std::shared_ptr<const sam3rt::Model> model;
  std::string type;
};

struct sam3rt_image {
  std::shared_ptr<const sam3rt::Model> model;
  sam3rt::ImageSession session;
};

struct sam3rt_video {
  std::shared_ptr<const sam3rt::Model> model;
  sam3rt::VideoSession session;
};

namespace {

using sam3rt::Error;
using sam3rt::ErrorCode;

thread_local std::string t_last_error;

sam3rt_status status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return SAM3RT_ERR_INVALID_ARGUMENT;
    case ErrorCode::kNotFound: return SAM3RT_ERR_NOT_FOUND;
    case ErrorCode::kIo: return SAM3RT_ERR_IO;
    case ErrorCode::kCorruption: return SAM3RT_ERR_CORRUPTION;
    case ErrorCode::kUnsupported: return SAM3RT_ERR_UNSUPPORTED;
    case ErrorCode::kInternal: return SAM3RT_ERR_INTERNAL;
  }
  return SAM3RT_ERR_INTERNAL;
}

sam3rt_status fail(sam3rt_status status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

// Runs fn (returning nothing); every exception becomes a status and a message.
template <typename F>
sam3rt_status guarded(F&& fn) noexcept {
  try {
    fn();
    return SAM3RT_OK;
  } catch (const Error& e) {
    return fail(status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(SAM3RT_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(SAM3RT_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(SAM3RT_ERR_INTERNAL, "internal error: unknown exception");
  }
}

template <typename T>
void require(const T* p, const char* what) {
  SAM3RT_CHECK(p != nullptr, kInvalidArgument, what, " is NULL");
}

sam3rt::Box to_box(const sam3rt_box& b, bool positive = true) { return {b.x1, b.y1, b.x2, b.y2, positive}; }
sam3rt_box from_box(const sam3rt::Box& b) { return {b.x1, b.y1, b.x2, b.y2}; }

std::vector<sam3rt::Point> to_points(const sam3rt_point* points, size_t n) {
  SAM3RT_CHECK(n == 0 || points != nullptr, kInvalidArgument, "points is NULL but num_points is ", n);
  std::vector<sam3rt::Point> out;
  for (size_t i = 0; i < n; ++i) out.push_back({points[i].x, points[i].y, points[i].positive != 0});
  return out;
}

// A C copy of a string (the caller frees it with the result).
char* copy_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

template <typename T>
T* copy_tensor(const at::Tensor& t, at::ScalarType type) {
  const at::Tensor c = t.to(at::kCPU).to(type).contiguous();
  const size_t bytes = static_cast<size_t>(c.numel()) * sizeof(T);
  T* p = static_cast<T*>(std::malloc(bytes > 0 ? bytes : 1));
  if (p == nullptr) throw std::bad_alloc();
  if (bytes > 0) std::memcpy(p, c.data_ptr<T>(), bytes);
  return p;
}

// Owns a sam3rt_result while it is filled; release() hands it to the caller.
struct ResultOwner {
  sam3rt_result* r = static_cast<sam3rt_result*>(std::calloc(1, sizeof(sam3rt_result)));
  ResultOwner() {
    if (r == nullptr) throw std::bad_alloc();
  }
  ~ResultOwner() { sam3rt_result_free(r); }
  void allocate(size_t count) {
    r->instances = static_cast<sam3rt_instance*>(std::calloc(count > 0 ? count : 1, sizeof(sam3rt_instance)));
    if (r->instances == nullptr) throw std::bad_alloc();
    r->count = count;
  }
  sam3rt_result* release() { return std::exchange(r, nullptr); }
};

// An image answer (concept or object mode) as a C result.
sam3rt_result* result_of(const sam3rt::ImageAnswer& a, int64_t low_res_size) {
  ResultOwner owner;
  sam3rt_result* r = owner.r;
  r->width = a.width;
  r->height = a.height;
  r->frame = -1;
  owner.allocate(a.instances.size());
  const bool object = a.mode == "object";
  for (size_t i = 0; i < a.instances.size(); ++i) {
    const sam3rt::Instance& in = a.instances[i];
    sam3rt_instance& out = r->instances[i];
    out.prompt = copy_string(in.prompt);
    out.id = object ? a.candidates[i].slot : static_cast<int64_t>(i);
    out.score = in.score;
    out.presence = in.presence;
    out.box = from_box(in.box);
    out.area = in.area;
    out.mask = copy_tensor<uint8_t>(in.mask, at::kByte);
    if (object) {
      out.low_res_logits = copy_tensor<float>(a.candidates[i].low_res_logits, at::kFloat);
      if (a.candidates[i].best) r->best = static_cast<int>(i);
    }
  }
  if (object) r->low_res_size = low_res_size;
  sam3rt::JsonOptions jo;
  jo.timings = false;
  r->json = copy_string(sam3rt::answer_json(a, jo));
  return owner.release();
}

sam3rt_result* result_of(const sam3rt::TrackFrame& f) {
  ResultOwner owner;
  sam3rt_result* r = owner.r;
  r->width = f.width;
  r->height = f.height;
  r->frame = f.index;
  owner.allocate(f.objects.size());
  for (size_t i = 0; i < f.objects.size(); ++i) {
    const sam3rt::TrackedObject& o = f.objects[i];
    sam3rt_instance& out = r->instances[i];
    out.prompt = copy_string("");
    out.id = o.id;
    out.score = o.score;
    out.presence = o.present ? 1.0f : 0.0f;
    out.box = from_box(o.box);
    out.area = o.area;
    out.mask = copy_tensor<uint8_t>(o.mask, at::kByte);
  }
  r->json = copy_string(sam3rt::track_frame_json(f));
  return owner.release();
}

// Frames from the caller's function (sam3rt_video_create).
class CallbackFrames final : public sam3rt::FrameSource {
 public:
  CallbackFrames(int64_t n, int64_t w, int64_t h, double fps, sam3rt_read_frame_fn fn, void* user)
      : n_(n), w_(w), h_(h), fps_(fps), fn_(fn), user_(user) {}
  int64_t num_frames() const override { return n_; }
  int64_t width() const override { return w_; }
  int64_t height() const override { return h_; }
  double fps() const override { return fps_; }
  std::string name() const override { return "frames from the caller"; }
  at::Tensor frame(int64_t index) override {
    SAM3RT_CHECK(index >= 0 && index < n_, kInvalidArgument, "frame ", index, " is outside the video (", n_,
                 " frames)");
    at::Tensor rgb = at::empty({h_, w_, 3}, at::kByte);  // [H, W, 3]
    const int rc = fn_(user_, index, rgb.data_ptr<uint8_t>());
    SAM3RT_CHECK(rc == 0, kIo, "the caller's read_frame function failed for frame ", index, " (returned ", rc, ")");
    return rgb;
  }

 private:
  int64_t n_, w_, h_;
  double fps_;
  sam3rt_read_frame_fn fn_;
  void* user_;
};

}  // namespace

extern "C" {

const char* sam3rt_last_error(void) { return t_last_error.c_str(); }

const char* sam3rt_status_name(sam3rt_status status) {
  switch (status) {
    case SAM3RT_OK: return "ok";
    case SAM3RT_ERR_INVALID_ARGUMENT: return sam3rt::error_code_name(ErrorCode::kInvalidArgument);
    case SAM3RT_ERR_NOT_FOUND: return sam3rt::error_code_name(ErrorCode::kNotFound);
    case SAM3RT_ERR_IO: return sam3rt::error_code_name(ErrorCode::kIo);
    case SAM3RT_ERR_CORRUPTION: return sam3rt::error_code_name(ErrorCode::kCorruption);
    case SAM3RT_ERR_UNSUPPORTED: return sam3rt::error_code_name(ErrorCode::kUnsupported);
    case SAM3RT_ERR_INTERNAL: return sam3rt::error_code_name(ErrorCode::kInternal);
  }
  return "unknown status";
}

const char* sam3rt_version(void) { return sam3rt::version(); }

sam3rt_status sam3rt_decode_image_file(const char* path, uint8_t** rgb, int64_t* width, int64_t* height) {
  return guarded([&] {
    require(rgb, "rgb");
    *rgb = nullptr;
    require(path, "path");
    require(width, "width");
    require(height, "height");
    const at::Tensor image = sam3rt::decode_image(path);  // [H, W, 3] uint8
    *rgb = copy_tensor<uint8_t>(image, at::kByte);
    *height = image.size(0);
    *width = image.size(1);
  });
}

void sam3rt_free(void* buffer) { std::free(buffer); }

sam3rt_status sam3rt_model_load(const char* model_dir, const sam3rt_model_options* options, sam3rt_model** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(model_dir, "model_dir");
    sam3rt::ModelOptions mo;
    mo.model_dir = model_dir;
    if (options != nullptr) {
      if (options->device != nullptr) mo.device = options->device;
      if (options->precision != nullptr) mo.precision = options->precision;
      SAM3RT_CHECK(options->num_threads >= 0, kInvalidArgument, "num_threads must be >= 0, got ",
                   options->num_threads);
      mo.num_threads = options->num_threads;
    }
    auto m = std::make_unique<sam3rt_model>();
    m->model = sam3rt::Model::load(mo);
    m->type = m->model->type_name();
    *out = m.release();
  });
}

void sam3rt_model_free(sam3rt_model* model) { delete model; }

sam3rt_status sam3rt_model_get_info(const sam3rt_model* model, sam3rt_model_info* out) {
  return guarded([&] {
    require(model, "model");
    require(out, "out");
    const sam3rt::Model& m = *model->model;
    out->type = model->type.c_str();
    out->image_size = m.image_size();
    out->low_res_mask_size = m.low_res_mask_size();
    out->can_segment_concepts = m.can_segment_concepts();
    out->can_segment_objects = m.can_segment_objects();
    out->can_track_video = m.can_track_video();
    out->random_weights = m.has_random_weights();
  });
}

void sam3rt_result_free(sam3rt_result* result) {
  if (result == nullptr) return;
  for (size_t i = 0; i < result->count; ++i) {
    std::free(const_cast<char*>(result->instances[i].prompt));
    std::free(result->instances[i].mask);
    std::free(result->instances[i].low_res_logits);
  }
  std::free(result->instances);
  std::free(result->json);
  std::free(result);
}

sam3rt_status sam3rt_image_create(const sam3rt_model* model, sam3rt_image** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(model, "model");
    *out = new sam3rt_image{model->model, sam3rt::ImageSession(model->model)};
  });
}

void sam3rt_image_free(sam3rt_image* image) { delete image; }

sam3rt_status sam3rt_image_set_rgb(sam3rt_image* image, const uint8_t* rgb, int64_t width, int64_t height,
                                   int64_t stride) {
  return guarded([&] {
    require(image, "image");
    require(rgb, "rgb");
    SAM3RT_CHECK(width > 0 && height > 0, kInvalidArgument, "image size must be positive, got ", width, "x", height);
    SAM3RT_CHECK(width <= sam3rt::kMaxImagePixels / height, kUnsupported, "image of ", width, "x", height,
                 " pixels is larger than ", sam3rt::kMaxImagePixels, " pixels");
    if (stride == 0) stride = width * 3;
    SAM3RT_CHECK(stride >= width * 3, kInvalidArgument, "stride ", stride, " is less than width * 3 = ", width * 3);
    // [H, W, 3] view of the caller's rows, copied: the session keeps its own image.
    const at::Tensor view = at::from_blob(const_cast<uint8_t*>(rgb), {height, width, 3}, {stride, 3, 1}, at::kByte);
    image->session.set_image(view.clone());
  });
}

sam3rt_status sam3rt_image_set_file(sam3rt_image* image, const char* path) {
  return guarded([&] {
    require(image, "image");
    require(path, "path");
    image->session.set_image(sam3rt::decode_image(path));
  });
}

sam3rt_status sam3rt_image_set_encoded(sam3rt_image* image, const uint8_t* data, size_t size) {
  return guarded([&] {
    require(image, "image");
    require(data, "data");
    image->session.set_image(sam3rt::decode_image(data, size, "encoded image"));
  });
}

sam3rt_segment_options sam3rt_segment_options_default(void) {
  const sam3rt::SegmentOptions d;
  return {d.score_threshold, d.nms ? 1 : 0, d.nms_iou, d.max_instances};
}

sam3rt_status sam3rt_image_segment(sam3rt_image* image, const char* text, const sam3rt_box* boxes,
                                   const int* box_positive, size_t num_boxes, const sam3rt_segment_options* options,
                                   sam3rt_result** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(image, "image");
    SAM3RT_CHECK(num_boxes == 0 || boxes != nullptr, kInvalidArgument, "boxes is NULL but num_boxes is ", num_boxes);
    sam3rt::SegmentRequest req;
    req.mode = "concept";
    if (text != nullptr && text[0] != '\0') req.texts.push_back(text);
    for (size_t i = 0; i < num_boxes; ++i) {
      req.boxes.push_back(to_box(boxes[i], box_positive == nullptr || box_positive[i] != 0));
    }
    if (options != nullptr) {
      req.options.score_threshold = options->score_threshold;
      req.options.nms = options->nms != 0;
      req.options.nms_iou = options->nms_iou;
      req.options.max_instances = options->max_instances;
    }
    *out = result_of(image->session.run(req), 0);
  });
}

sam3rt_status sam3rt_image_predict(sam3rt_image* image, const sam3rt_point* points, size_t num_points,
                                   const sam3rt_box* box, const sam3rt_mask_input* mask_input, int multimask,
                                   sam3rt_result** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(image, "image");
    SAM3RT_CHECK(multimask >= -1 && multimask <= 1, kInvalidArgument, "multimask must be -1, 0 or 1, got ",
                 multimask);
    sam3rt::SegmentRequest req;
    req.mode = "object";
    req.points = to_points(points, num_points);
    if (box != nullptr) req.boxes.push_back(to_box(*box));
    if (mask_input != nullptr) {
      const auto& m = *mask_input;
      SAM3RT_CHECK((m.logits != nullptr) != (m.mask != nullptr), kInvalidArgument,
                   "mask_input needs exactly one of logits and mask");
      SAM3RT_CHECK(m.width > 0 && m.height > 0, kInvalidArgument, "mask_input size must be positive, got ", m.width,
                   "x", m.height);
      // [H, W] copies; the library checks the size against the image / the model.
      req.mask_input = m.logits != nullptr
                           ? at::from_blob(const_cast<float*>(m.logits), {m.height, m.width}, at::kFloat).clone()
                           : at::from_blob(const_cast<uint8_t*>(m.mask), {m.height, m.width}, at::kByte).clone();
    }
    if (multimask >= 0) req.multimask = multimask == 1;
    *out = result_of(image->session.run(req), image->model->low_res_mask_size());
  });
}

sam3rt_status sam3rt_video_open(const sam3rt_model* model, const char* path, sam3rt_video** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(model, "model");
    require(path, "path");
    *out = new sam3rt_video{model->model, sam3rt::VideoSession(model->model, std::string(path))};
  });
}

sam3rt_status sam3rt_video_create(const sam3rt_model* model, int64_t num_frames, int64_t width, int64_t height,
                                  double fps, sam3rt_read_frame_fn read_frame, void* user, sam3rt_video** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(model, "model");
    SAM3RT_CHECK(read_frame != nullptr, kInvalidArgument, "read_frame is NULL");
    SAM3RT_CHECK(num_frames > 0, kInvalidArgument, "num_frames must be positive, got ", num_frames);
    SAM3RT_CHECK(width > 0 && height > 0, kInvalidArgument, "frame size must be positive, got ", width, "x", height);
    SAM3RT_CHECK(width <= sam3rt::kMaxImagePixels / height, kUnsupported, "frames of ", width, "x", height,
                 " pixels are larger than ", sam3rt::kMaxImagePixels, " pixels");
    SAM3RT_CHECK(fps >= 0, kInvalidArgument, "fps must be >= 0, got ", fps);
    auto source = std::make_unique<CallbackFrames>(num_frames, width, height, fps, read_frame, user);
    *out = new sam3rt_video{model->model, sam3rt::VideoSession(model->model, std::move(source))};
  });
}

void sam3rt_video_free(sam3rt_video* video) { delete video; }

sam3rt_status sam3rt_video_get_info(const sam3rt_video* video, sam3rt_video_info* out) {
  return guarded([&] {
    require(video, "video");
    require(out, "out");
    out->num_frames = video->session.num_frames();
    out->width = video->session.width();
    out->height = video->session.height();
    out->fps = video->session.fps();
  });
}

sam3rt_status sam3rt_video_add_points(sam3rt_video* video, int64_t frame, int64_t object_id,
                                      const sam3rt_point* points, size_t num_points) {
  return guarded([&] {
    require(video, "video");
    video->session.add_points(frame, object_id, to_points(points, num_points));
  });
}

sam3rt_status sam3rt_video_add_box(sam3rt_video* video, int64_t frame, int64_t object_id, const sam3rt_box* box) {
  return guarded([&] {
    require(video, "video");
    require(box, "box");
    video->session.add_box(frame, object_id, to_box(*box));
  });
}

sam3rt_status sam3rt_video_add_mask(sam3rt_video* video, int64_t frame, int64_t object_id, const uint8_t* mask) {
  return guarded([&] {
    require(video, "video");
    require(mask, "mask");
    // [H, W] at the video's size, copied.
    const int64_t h = video->session.height(), w = video->session.width();
    video->session.add_mask(frame, object_id, at::from_blob(const_cast<uint8_t*>(mask), {h, w}, at::kByte).clone());
  });
}

sam3rt_status sam3rt_video_add_text(sam3rt_video* video, const char* text, int64_t frame) {
  return guarded([&] {
    require(video, "video");
    require(text, "text");
    video->session.add_text(text, frame);
  });
}

sam3rt_status sam3rt_video_propagate(sam3rt_video* video, const sam3rt_propagate_options* options,
                                     sam3rt_frame_result_fn on_frame, void* user, int64_t* frames_done) {
  return guarded([&] {
    if (frames_done != nullptr) *frames_done = 0;
    require(video, "video");
    SAM3RT_CHECK(on_frame != nullptr, kInvalidArgument, "on_frame is NULL");
    sam3rt::PropagateOptions po;
    if (options != nullptr) {
      po.reverse = options->reverse != 0;
      po.start_frame = options->start_frame;
      SAM3RT_CHECK(options->max_frames >= 0, kInvalidArgument, "max_frames must be >= 0, got ", options->max_frames);
      po.max_frames = options->max_frames;
    }
    const int64_t n = video->session.propagate(
        [&](const sam3rt::TrackFrame& f) {
          std::unique_ptr<sam3rt_result, decltype(&sam3rt_result_free)> r(result_of(f), &sam3rt_result_free);
          return on_frame(user, r.get()) != 0;
        },
        po);
    if (frames_done != nullptr) *frames_done = n;
  });
}

sam3rt_status sam3rt_video_reset(sam3rt_video* video) {
  return guarded([&] {
    require(video, "video");
    video->session.reset();
  });
}

}  // extern "C"
