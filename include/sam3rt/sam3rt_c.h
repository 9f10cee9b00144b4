/* sam3rt's C API: the library for C and for other languages' foreign-function interfaces
 * (Python's ctypes module in python/sam3rt, Rust, Go, C#).
 *
 * Basic use:
 *   sam3rt_model* model = NULL;
 *   if (sam3rt_model_load("facebook-sam3", NULL, &model) != SAM3RT_OK) {
 *     fprintf(stderr, "%s\n", sam3rt_last_error());
 *     return 1;
 *   }
 *   sam3rt_image* image = NULL;
 *   sam3rt_image_create(model, &image);
 *   sam3rt_image_set_file(image, "photo.jpg");          // encodes the image once
 *   sam3rt_point click = {420, 310, 1};
 *   sam3rt_result* r = NULL;
 *   sam3rt_image_predict(image, &click, 1, NULL, NULL, -1, &r);   // 3 candidate masks
 *   ... r->instances[0].mask, r->instances[0].score ...
 *   sam3rt_result_free(r);
 *   sam3rt_image_free(image);
 *   sam3rt_model_free(model);
 *
 * Conventions:
 * - Every function that can fail returns a sam3rt_status; SAM3RT_OK (0) is success. On
 *   failure sam3rt_last_error() returns a message naming the problem (the argument, the
 *   file, the key); it is kept per thread until that thread's next failing call. No C++
 *   exception crosses this interface.
 * - Handles are opaque. NULL handles and NULL required pointers are errors
 *   (SAM3RT_ERR_INVALID_ARGUMENT), never crashes. The *_free functions accept NULL.
 * - A model may be shared by any number of threads and sessions; a session (image or
 *   video) is used by one thread at a time. A session keeps its model alive: the model
 *   handle may be freed before the sessions made from it.
 * - Coordinates are pixels of the original image or video; boxes are corners x1, y1, x2, y2.
 * - Results are plain structs; one sam3rt_result_free() releases a result with every mask
 *   and string in it.
 */
#ifndef SAM3RT_SAM3RT_C_H_
#define SAM3RT_SAM3RT_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAM3RT_C_API_VERSION 1

typedef enum sam3rt_status {
  SAM3RT_OK = 0,
  SAM3RT_ERR_INVALID_ARGUMENT = 1, /* a malformed argument: null handle, prompt, shape, option */
  SAM3RT_ERR_NOT_FOUND = 2,        /* a file, key or object that does not exist */
  SAM3RT_ERR_IO = 3,               /* reading or writing failed */
  SAM3RT_ERR_CORRUPTION = 4,       /* a malformed checkpoint, config, image or video frame */
  SAM3RT_ERR_UNSUPPORTED = 5,      /* well-formed, but not something this model can do */
  SAM3RT_ERR_INTERNAL = 6          /* a bug or an unexpected failure (out of memory) */
} sam3rt_status;

/* The message of this thread's last failed call ("" when none failed); valid until the
 * thread's next failing call. */
const char* sam3rt_last_error(void);
/* A short stable name of a status, e.g. "invalid argument". */
const char* sam3rt_status_name(sam3rt_status status);
/* The library's version, e.g. "0.4.0". */
const char* sam3rt_version(void);

/* Decodes an image file (JPEG, PNG; more with OpenCV builds; EXIF orientation applied)
 * to RGB: *rgb receives height * width * 3 bytes, released with sam3rt_free(). */
sam3rt_status sam3rt_decode_image_file(const char* path, uint8_t** rgb, int64_t* width, int64_t* height);
/* Releases a buffer the library allocated (sam3rt_decode_image_file). NULL is fine. */
void sam3rt_free(void* buffer);

typedef struct sam3rt_model sam3rt_model;
typedef struct sam3rt_image sam3rt_image;
typedef struct sam3rt_video sam3rt_video;

typedef struct sam3rt_box {
  float x1, y1, x2, y2;
} sam3rt_box;

typedef struct sam3rt_point {
  float x, y;
  int positive; /* 1: on the object; 0: not on it */
} sam3rt_point;

/* ---- model --------------------------------------------------------------------------- */

typedef struct sam3rt_model_options {
  const char* device;    /* "cpu" (NULL), "cuda", "cuda:N" */
  const char* precision; /* "fp32" (NULL) or "bf16" */
  int num_threads;       /* cores to compute on; 0 = all */
} sam3rt_model_options;

/* Loads config.json and model.safetensors from `model_dir` (facebook/sam3, sam3,
 * sam3_tracker, facebook/sam2.1-hiera-*, sam2 layouts). options may be NULL. */
sam3rt_status sam3rt_model_load(const char* model_dir, const sam3rt_model_options* options,
                                sam3rt_model** out);
void sam3rt_model_free(sam3rt_model* model);

typedef struct sam3rt_model_info {
  const char* type;             /* "sam3_video", "sam2_video", ...; owned by the model */
  int64_t image_size;           /* model input side (1008 for SAM 3, 1024 for SAM 2.1) */
  int64_t low_res_mask_size;    /* side of an object prompt's low-resolution logits; 0 without tracker */
  int can_segment_concepts;     /* 1: text / exemplar prompts (the detector) */
  int can_segment_objects;      /* 1: points / box / mask prompts (the tracker) */
  int can_track_video;          /* 1: sam3rt_video_* sessions */
  int random_weights;           /* 1: a random checkpoint (masks are meaningless) */
} sam3rt_model_info;

sam3rt_status sam3rt_model_get_info(const sam3rt_model* model, sam3rt_model_info* out);

/* ---- results ------------------------------------------------------------------------- */

typedef struct sam3rt_instance {
  /* Concept: the prompt text ("visual" for boxes alone). Object: "object". Video: "". */
  const char* prompt;
  /* Concept: rank (0 = highest score). Object: the decoder's output slot. Video: object id. */
  int64_t id;
  /* Concept: sigmoid(logit) * presence. Object: the decoder's predicted IoU.
   * Video: sigmoid(object score logit). */
  float score;
  /* Concept: sigmoid(presence logit). Object: sigmoid(object score logit).
   * Video: 1 when the object is present, else 0 (and the mask is empty). */
  float presence;
  sam3rt_box box;  /* tight box of the mask (all 0 for an empty mask) */
  int64_t area;    /* mask pixels */
  uint8_t* mask;   /* height * width bytes, row-major, 1 = object, 0 = not */
  /* Object mode: low_res_size * low_res_size float mask logits of this candidate, to pass
   * back as a sam3rt_mask_input (SAM's refinement loop). NULL otherwise. */
  float* low_res_logits;
} sam3rt_instance;

typedef struct sam3rt_result {
  int64_t width, height;      /* of the image or video frame */
  int64_t frame;              /* video: frame index; images: -1 */
  int64_t low_res_size;       /* object mode: side of low_res_logits; else 0 */
  int best;                   /* object mode: index (into instances) of the highest IoU; else 0 */
  size_t count;
  sam3rt_instance* instances; /* concept: by score; object: by predicted IoU; video: by id */
  char* json;                 /* the same JSON `sam3rt segment` / `sam3rt track` write (no timings) */
} sam3rt_result;

void sam3rt_result_free(sam3rt_result* result);

/* ---- image sessions ------------------------------------------------------------------ */

sam3rt_status sam3rt_image_create(const sam3rt_model* model, sam3rt_image** out);
void sam3rt_image_free(sam3rt_image* image);

/* Sets the image and encodes it once; later prompts reuse the encoding. rgb: height rows
 * of width * 3 bytes (R, G, B), each row `stride` bytes apart (0 = width * 3). */
sam3rt_status sam3rt_image_set_rgb(sam3rt_image* image, const uint8_t* rgb, int64_t width,
                                   int64_t height, int64_t stride);
/* The same from an image file (JPEG, PNG; more with OpenCV builds), or from the encoded
 * file's bytes in memory. */
sam3rt_status sam3rt_image_set_file(sam3rt_image* image, const char* path);
sam3rt_status sam3rt_image_set_encoded(sam3rt_image* image, const uint8_t* data, size_t size);

typedef struct sam3rt_segment_options {
  float score_threshold; /* keep instances scoring above this (0.5 by default) */
  int nms;               /* 1: suppress lower-scored instances overlapping a kept one */
  float nms_iou;         /* mask IoU above which NMS suppresses (0.5) */
  int max_instances;     /* per prompt; 0 = no limit */
} sam3rt_segment_options;

/* The defaults above. */
sam3rt_segment_options sam3rt_segment_options_default(void);

/* Concept segmentation: every instance of `text` and/or what the exemplar boxes show.
 * text may be NULL or "" when boxes are given; box_positive may be NULL (all positive),
 * else num_boxes flags (0 = "not this"). options may be NULL (defaults). */
sam3rt_status sam3rt_image_segment(sam3rt_image* image, const char* text, const sam3rt_box* boxes,
                                   const int* box_positive, size_t num_boxes,
                                   const sam3rt_segment_options* options, sam3rt_result** out);

typedef struct sam3rt_mask_input {
  /* Either low-resolution LOGITS (float, low_res_size x low_res_size, e.g. a previous
   * result's low_res_logits) or a binary mask of the image's size (uint8, non-zero =
   * object). Exactly one of the two pointers is set. */
  const float* logits;
  const uint8_t* mask;
  int64_t width, height; /* of the buffer given */
} sam3rt_mask_input;

/* Object segmentation (SAM's interactive task): points (num_points may be 0), an
 * optional box and an optional mask input; at least one prompt. multimask: 1 = the
 * decoder's three candidates, 0 = one, -1 = SAM's rule (three for a single click alone). */
sam3rt_status sam3rt_image_predict(sam3rt_image* image, const sam3rt_point* points, size_t num_points,
                                   const sam3rt_box* box, const sam3rt_mask_input* mask_input,
                                   int multimask, sam3rt_result** out);

/* ---- video sessions ------------------------------------------------------------------ */

/* Opens a video file (OpenCV builds) or a folder of numbered frame images. */
sam3rt_status sam3rt_video_open(const sam3rt_model* model, const char* path, sam3rt_video** out);

/* Frames from the caller: read_frame(user, index, rgb) writes frame `index` as
 * height * width * 3 bytes into rgb and returns 0, or non-zero when it cannot (the call
 * that needed the frame then fails with SAM3RT_ERR_IO). Called from the thread that
 * calls sam3rt_video_propagate, in any order (backwards for a reverse pass); `user` must
 * stay valid while the session lives. */
typedef int (*sam3rt_read_frame_fn)(void* user, int64_t index, uint8_t* rgb);
sam3rt_status sam3rt_video_create(const sam3rt_model* model, int64_t num_frames, int64_t width,
                                  int64_t height, double fps, sam3rt_read_frame_fn read_frame,
                                  void* user, sam3rt_video** out);
void sam3rt_video_free(sam3rt_video* video);

typedef struct sam3rt_video_info {
  int64_t num_frames, width, height;
  double fps; /* 0 when unknown */
} sam3rt_video_info;
sam3rt_status sam3rt_video_get_info(const sam3rt_video* video, sam3rt_video_info* out);

/* Prompts for object `object_id` on `frame` (they take effect on the next propagate):
 * clicks, one box, or a binary mask of the video's size (width * height bytes). */
sam3rt_status sam3rt_video_add_points(sam3rt_video* video, int64_t frame, int64_t object_id,
                                      const sam3rt_point* points, size_t num_points);
sam3rt_status sam3rt_video_add_box(sam3rt_video* video, int64_t frame, int64_t object_id,
                                   const sam3rt_box* box);
sam3rt_status sam3rt_video_add_mask(sam3rt_video* video, int64_t frame, int64_t object_id,
                                    const uint8_t* mask);
/* Every instance of `text`, found by the detector and tracked (SAM 3 video models). */
sam3rt_status sam3rt_video_add_text(sam3rt_video* video, const char* text, int64_t frame);

typedef struct sam3rt_propagate_options {
  int reverse;         /* 1: from the start frame back to frame 0 */
  int64_t start_frame; /* -1: the first prompted frame going forwards, the last going backwards */
  int64_t max_frames;  /* 0 = no limit */
} sam3rt_propagate_options;

/* Called after each tracked frame with that frame's objects (instances by id). The
 * result belongs to the library and is valid during the call only. Return non-zero to
 * go on, 0 to stop. */
typedef int (*sam3rt_frame_result_fn)(void* user, const sam3rt_result* frame);

/* Tracks every object frame by frame; options may be NULL (forwards from the first
 * prompted frame). frames_done (may be NULL) receives the number of frames delivered. */
sam3rt_status sam3rt_video_propagate(sam3rt_video* video, const sam3rt_propagate_options* options,
                                     sam3rt_frame_result_fn on_frame, void* user, int64_t* frames_done);
/* Forgets every object, prompt and memory (the video stays open). */
sam3rt_status sam3rt_video_reset(sam3rt_video* video);

#ifdef __cplusplus
}
#endif

#endif /* SAM3RT_SAM3RT_C_H_ */
