/* The C API (include/sam3rt/sam3rt_c.h), tested from C: every function, with good and
 * bad inputs. Answers are checked against the `sam3rt` CLI on the same inputs (the
 * result JSON byte for byte), against each other (the same image given three ways, the
 * same video from a folder and from the caller's frames) and for their invariants (mask
 * area, best candidate, sizes).
 *
 * Usage: sam3rt_capi_test CASE DATA_DIR CLI DEMO_MODEL WORK_DIR
 *   DATA_DIR   tests/data
 *   CLI        the sam3rt executable
 *   DEMO_MODEL a random checkpoint of assets/demo/config.json (CLIP's vocabulary: text)
 *   WORK_DIR   a scratch folder (created)
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sam3rt/sam3rt_c.h"

static const char* g_data;
static const char* g_cli;
static const char* g_demo;
static const char* g_work;
static int g_failures;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      ++g_failures;                                                              \
    }                                                                            \
  } while (0)

/* A call that must succeed; on failure the test stops (what follows needs it). */
#define OK(call)                                                                            \
  do {                                                                                      \
    sam3rt_status s_ = (call);                                                              \
    if (s_ != SAM3RT_OK) {                                                                  \
      fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,                   \
              sam3rt_status_name(s_), sam3rt_last_error());                                 \
      exit(1);                                                                              \
    }                                                                                       \
  } while (0)

/* A call that must fail with `status` and a message containing `text`. */
#define FAILS(call, status, text)                                                              \
  do {                                                                                         \
    sam3rt_status s_ = (call);                                                                 \
    if (s_ != (status) || strstr(sam3rt_last_error(), (text)) == NULL) {                       \
      fprintf(stderr, "%s:%d: %s -> %s \"%s\", expected %s with \"%s\"\n", __FILE__, __LINE__, \
              #call, sam3rt_status_name(s_), sam3rt_last_error(), sam3rt_status_name(status),  \
              (text));                                                                         \
      ++g_failures;                                                                            \
    }                                                                                          \
  } while (0)

static char* fmt(const char* f, ...) {
  static char buf[8][4096];
  static int k;
  char* b = buf[k++ % 8];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof buf[0], f, ap);
  va_end(ap);
  return b;
}

/* A formatted string that stays until the program exits (freed then: the ASan build of
   the tests reports leaks). */
static char* g_kept[1024];
static int g_kept_count = 0;
static void free_kept(void) {
  for (int i = 0; i < g_kept_count; ++i) free(g_kept[i]);
}
static char* keep(const char* s) {
  if (g_kept_count == 0) atexit(free_kept);
  if (g_kept_count == (int)(sizeof g_kept / sizeof g_kept[0])) {
    fprintf(stderr, "capi_test: keep() is full\n");
    exit(2);
  }
  g_kept[g_kept_count] = strdup(s);
  return g_kept[g_kept_count++];
}

static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* p = malloc((size_t)n + 1);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) exit(1);
  p[n] = '\0';
  fclose(f);
  if (size != NULL) *size = (size_t)n;
  return p;
}

/* Runs the CLI with `args`; exits the test when it fails. */
static void cli(const char* args) {
  const char* cmd = keep(fmt("'%s' %s > '%s/cli.log' 2>&1", g_cli, args, g_work));
  if (system(cmd) != 0) {
    fprintf(stderr, "CLI failed: %s\n%s", cmd, read_file(fmt("%s/cli.log", g_work), NULL));
    exit(1);
  }
}

/* `sam3rt segment` with `prompt_args`: its result.json (caller frees). */
static char* cli_segment(const char* model, const char* image, const char* prompt_args) {
  const char* out = keep(fmt("%s/segment", g_work));
  cli(fmt("segment --model '%s' --image '%s' --out '%s' --no-timings %s", model, image, out, prompt_args));
  return read_file(fmt("%s/result.json", out), NULL);
}

/* `sam3rt track` with `prompt_args`: its tracks.json (caller frees). */
static char* cli_track(const char* model, const char* video, const char* prompt_args) {
  const char* out = keep(fmt("%s/track", g_work));
  cli(fmt("track --model '%s' --video '%s' --out '%s' --no-overlay --no-masks %s", model, video, out, prompt_args));
  return read_file(fmt("%s/tracks.json", out), NULL);
}

/* The C API's JSON against the CLI's; both written to WORK_DIR on a mismatch. */
static void check_same_json(const char* ours, const char* cli_json, int line) {
  if (strcmp(ours, cli_json) == 0) return;
  static int k;
  const char* a = keep(fmt("%s/mismatch%d.capi.json", g_work, k));
  const char* b = keep(fmt("%s/mismatch%d.cli.json", g_work, k++));
  FILE* f = fopen(a, "wb");
  fputs(ours, f);
  fclose(f);
  f = fopen(b, "wb");
  fputs(cli_json, f);
  fclose(f);
  fprintf(stderr, "%s:%d: the C API's JSON differs from the CLI's: %s %s\n", __FILE__, line, a, b);
  ++g_failures;
}

/* Invariants of every result: sizes, mask area, boxes inside the image. */
static void check_result(const sam3rt_result* r) {
  CHECK(r != NULL);
  CHECK(r->json != NULL && r->json[0] == '{');
  for (size_t i = 0; i < r->count; ++i) {
    const sam3rt_instance* in = &r->instances[i];
    int64_t area = 0;
    for (int64_t p = 0; p < r->width * r->height; ++p) {
      CHECK(in->mask[p] <= 1);
      area += in->mask[p];
    }
    CHECK(area == in->area);
    CHECK(in->prompt != NULL);
    if (area > 0) CHECK(in->box.x1 >= 0 && in->box.x2 <= r->width && in->box.x1 < in->box.x2);
  }
}

static sam3rt_model* load(const char* dir) {
  sam3rt_model* m = NULL;
  /* All cores, as the CLI uses: the same reductions, so the same bytes. */
  sam3rt_model_options o = {NULL, NULL, 0};
  OK(sam3rt_model_load(dir, &o, &m));
  return m;
}

/* ---- errors --------------------------------------------------------------------------- */

struct thread_check {
  int ok;
};

static void* fail_in_thread(void* arg) {
  struct thread_check* t = arg;
  t->ok = strcmp(sam3rt_last_error(), "") == 0; /* a new thread starts without an error */
  sam3rt_model* m = NULL;
  t->ok = t->ok && sam3rt_model_load("/nonexistent/other-thread", NULL, &m) == SAM3RT_ERR_NOT_FOUND &&
          strstr(sam3rt_last_error(), "other-thread") != NULL;
  return NULL;
}

static void test_errors(void) {
  CHECK(strcmp(sam3rt_last_error(), "") == 0);
  CHECK(strcmp(sam3rt_status_name(SAM3RT_OK), "ok") == 0);
  CHECK(strcmp(sam3rt_status_name(SAM3RT_ERR_INVALID_ARGUMENT), "invalid argument") == 0);
  CHECK(strcmp(sam3rt_status_name(SAM3RT_ERR_NOT_FOUND), "not found") == 0);
  CHECK(strcmp(sam3rt_status_name(SAM3RT_ERR_CORRUPTION), "corrupt input") == 0);
  CHECK(strcmp(sam3rt_status_name((sam3rt_status)99), "unknown status") == 0);
  CHECK(strcmp(sam3rt_version(), SAM3RT_TEST_VERSION) == 0);

  /* Null handles and pointers, in every function that takes them. */
  sam3rt_model* m = (sam3rt_model*)1;
  FAILS(sam3rt_model_load(NULL, NULL, &m), SAM3RT_ERR_INVALID_ARGUMENT, "model_dir is NULL");
  CHECK(m == NULL);
  FAILS(sam3rt_model_load("x", NULL, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "out is NULL");
  sam3rt_model_info info;
  FAILS(sam3rt_model_get_info(NULL, &info), SAM3RT_ERR_INVALID_ARGUMENT, "model is NULL");
  sam3rt_image* im = NULL;
  FAILS(sam3rt_image_create(NULL, &im), SAM3RT_ERR_INVALID_ARGUMENT, "model is NULL");
  uint8_t px[12] = {0};
  FAILS(sam3rt_image_set_rgb(NULL, px, 2, 2, 0), SAM3RT_ERR_INVALID_ARGUMENT, "image is NULL");
  FAILS(sam3rt_image_set_file(NULL, "a.jpg"), SAM3RT_ERR_INVALID_ARGUMENT, "image is NULL");
  FAILS(sam3rt_image_set_encoded(NULL, px, 12), SAM3RT_ERR_INVALID_ARGUMENT, "image is NULL");
  sam3rt_result* r = NULL;
  FAILS(sam3rt_image_segment(NULL, "cat", NULL, NULL, 0, NULL, &r), SAM3RT_ERR_INVALID_ARGUMENT, "image is NULL");
  sam3rt_point pt = {1, 1, 1};
  FAILS(sam3rt_image_predict(NULL, &pt, 1, NULL, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "image is NULL");
  CHECK(r == NULL);
  sam3rt_video* v = NULL;
  FAILS(sam3rt_video_open(NULL, "v.mp4", &v), SAM3RT_ERR_INVALID_ARGUMENT, "model is NULL");
  FAILS(sam3rt_video_create(NULL, 1, 2, 2, 0, NULL, NULL, &v), SAM3RT_ERR_INVALID_ARGUMENT, "model is NULL");
  sam3rt_video_info vi;
  FAILS(sam3rt_video_get_info(NULL, &vi), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  FAILS(sam3rt_video_add_points(NULL, 0, 1, &pt, 1), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  sam3rt_box box = {0, 0, 1, 1};
  FAILS(sam3rt_video_add_box(NULL, 0, 1, &box), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  FAILS(sam3rt_video_add_mask(NULL, 0, 1, px), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  FAILS(sam3rt_video_add_text(NULL, "cat", 0), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  int64_t done = 7;
  FAILS(sam3rt_video_propagate(NULL, NULL, NULL, NULL, &done), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  CHECK(done == 0);
  FAILS(sam3rt_video_reset(NULL), SAM3RT_ERR_INVALID_ARGUMENT, "video is NULL");
  uint8_t* rgb = NULL;
  int64_t w = 0, h = 0;
  FAILS(sam3rt_decode_image_file(NULL, &rgb, &w, &h), SAM3RT_ERR_INVALID_ARGUMENT, "path is NULL");
  sam3rt_model_free(NULL);
  sam3rt_image_free(NULL);
  sam3rt_video_free(NULL);
  sam3rt_result_free(NULL);
  sam3rt_free(NULL);

  /* A missing model, a truncated checkpoint, a bad option. */
  FAILS(sam3rt_model_load("/nonexistent/model", NULL, &m), SAM3RT_ERR_NOT_FOUND, "/nonexistent/model");
  const char* bad = keep(fmt("%s/truncated", g_work));
  mkdir(bad, 0755);
  size_t n = 0;
  char* config = read_file(fmt("%s/sam3-tiny-seed0/sam3_tracker/config.json", g_data), NULL);
  char* weights = read_file(fmt("%s/sam3-tiny-seed0/sam3_tracker/model.safetensors", g_data), &n);
  FILE* f = fopen(fmt("%s/config.json", bad), "wb");
  fputs(config, f);
  fclose(f);
  f = fopen(fmt("%s/model.safetensors", bad), "wb");
  fwrite(weights, 1, n / 2, f);
  fclose(f);
  free(config);
  free(weights);
  FAILS(sam3rt_model_load(bad, NULL, &m), SAM3RT_ERR_CORRUPTION, "model.safetensors");
  sam3rt_model_options o = {NULL, "fp64", 1};
  FAILS(sam3rt_model_load(fmt("%s/sam3-tiny-seed0/sam3_tracker", g_data), &o, &m), SAM3RT_ERR_INVALID_ARGUMENT,
        "fp64");
  o.precision = NULL;
  o.num_threads = -2;
  FAILS(sam3rt_model_load(fmt("%s/sam3-tiny-seed0/sam3_tracker", g_data), &o, &m), SAM3RT_ERR_INVALID_ARGUMENT,
        "num_threads");

  /* The message is per thread: another thread's failure leaves this one's alone. */
  char* mine = strdup(sam3rt_last_error());
  pthread_t t;
  struct thread_check tc = {0};
  pthread_create(&t, NULL, fail_in_thread, &tc);
  pthread_join(t, NULL);
  CHECK(tc.ok);
  CHECK(strcmp(sam3rt_last_error(), mine) == 0);
  free(mine);
}

/* ---- model ---------------------------------------------------------------------------- */

static void test_model(void) {
  sam3rt_model_info info;
  sam3rt_model* video = load(fmt("%s/sam3-tiny-seed0/sam3_video", g_data));
  OK(sam3rt_model_get_info(video, &info));
  CHECK(strcmp(info.type, "sam3_video") == 0);
  CHECK(info.image_size == 224);
  CHECK(info.low_res_mask_size == 64);
  CHECK(info.can_segment_concepts == 1 && info.can_segment_objects == 1 && info.can_track_video == 1);
  CHECK(info.random_weights == 0);
  FAILS(sam3rt_model_get_info(video, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "out is NULL");

  sam3rt_model* image = load(fmt("%s/sam3-tiny-seed0/sam3_image", g_data));
  OK(sam3rt_model_get_info(image, &info));
  CHECK(strcmp(info.type, "sam3") == 0);
  CHECK(info.can_segment_concepts == 1 && info.can_segment_objects == 0 && info.can_track_video == 0);
  CHECK(info.low_res_mask_size == 0);
  sam3rt_image* session = NULL;
  OK(sam3rt_image_create(image, &session));
  OK(sam3rt_image_set_file(session, fmt("%s/images/oven.jpg", g_data)));
  sam3rt_point pt = {10, 10, 1};
  sam3rt_result* r = NULL;
  FAILS(sam3rt_image_predict(session, &pt, 1, NULL, NULL, -1, &r), SAM3RT_ERR_UNSUPPORTED, "sam3");
  sam3rt_video* v = NULL;
  FAILS(sam3rt_video_open(image, fmt("%s/video", g_data), &v), SAM3RT_ERR_UNSUPPORTED, "cannot track video");

  sam3rt_model* tracker = load(fmt("%s/sam3-tiny-seed0/sam3_tracker", g_data));
  OK(sam3rt_model_get_info(tracker, &info));
  CHECK(strcmp(info.type, "sam3_tracker") == 0);
  CHECK(info.can_segment_concepts == 0 && info.can_segment_objects == 1 && info.can_track_video == 0);

  sam3rt_model* sam2 = load(fmt("%s/sam2-tiny-seed0/sam2_video", g_data));
  OK(sam3rt_model_get_info(sam2, &info));
  CHECK(strcmp(info.type, "sam2_video") == 0);
  CHECK(info.can_segment_concepts == 0 && info.can_track_video == 1);

  /* The session keeps its model: freeing the handle first is fine. */
  sam3rt_model_free(image);
  OK(sam3rt_image_set_file(session, fmt("%s/images/oven.jpg", g_data)));
  sam3rt_image_free(session);
  sam3rt_model_free(video);
  sam3rt_model_free(tracker);
  sam3rt_model_free(sam2);
}

/* ---- image sessions ------------------------------------------------------------------- */

static void test_image_object(void) {
  const char* dir = keep(fmt("%s/sam3-tiny-seed0/sam3_video", g_data));
  const char* oven = keep(fmt("%s/images/oven.jpg", g_data));
  sam3rt_model* model = load(dir);
  sam3rt_image* s = NULL;
  OK(sam3rt_image_create(model, &s));
  sam3rt_point click = {120, 200, 1};
  sam3rt_result* r = NULL;
  FAILS(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "no image");
  OK(sam3rt_image_set_file(s, oven));

  /* One click: three candidates by IoU, the same JSON as the CLI. */
  OK(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &r));
  check_result(r);
  CHECK(r->width == 332 && r->height == 500 && r->frame == -1);
  CHECK(r->count == 3);
  CHECK(r->low_res_size == 64);
  CHECK(r->best == 0);
  for (size_t i = 0; i < r->count; ++i) {
    CHECK(strcmp(r->instances[i].prompt, "object") == 0);
    CHECK(r->instances[i].low_res_logits != NULL);
    if (i > 0) CHECK(r->instances[i - 1].score >= r->instances[i].score);
    CHECK(r->instances[i].presence == r->instances[0].presence);
  }
  char* expected = cli_segment(dir, oven, "--point 120,200");
  check_same_json(r->json, expected, __LINE__);
  free(expected);

  /* Refine: the best candidate's logits back as a mask input with a negative click. */
  sam3rt_mask_input mi = {r->instances[r->best].low_res_logits, NULL, r->low_res_size, r->low_res_size};
  sam3rt_point clicks[2] = {{120, 200, 1}, {250, 60, 0}};
  sam3rt_result* refined = NULL;
  OK(sam3rt_image_predict(s, clicks, 2, NULL, &mi, 0, &refined));
  check_result(refined);
  CHECK(refined->count == 1);
  CHECK(strstr(refined->json, "\"label\": 0") != NULL || strstr(refined->json, "false") != NULL);
  sam3rt_result_free(refined);
  sam3rt_result_free(r);

  /* A box (one mask by SAM's rule), the same as the CLI. */
  sam3rt_box box = {40, 80, 300, 420};
  OK(sam3rt_image_predict(s, NULL, 0, &box, NULL, -1, &r));
  check_result(r);
  CHECK(r->count == 1);
  expected = cli_segment(dir, oven, "--box 40,80,300,420 --mode object");
  check_same_json(r->json, expected, __LINE__);
  free(expected);
  sam3rt_result_free(r);

  /* A binary mask of the image's size as the prompt, three candidates asked for. */
  uint8_t* mask = calloc(332 * 500, 1);
  for (int y = 100; y < 300; ++y)
    for (int x = 50; x < 250; ++x) mask[y * 332 + x] = 1;
  sam3rt_mask_input mm = {NULL, mask, 332, 500};
  OK(sam3rt_image_predict(s, NULL, 0, NULL, &mm, 1, &r));
  check_result(r);
  CHECK(r->count == 3);
  sam3rt_result_free(r);

  /* Bad prompts. */
  sam3rt_point outside = {400, 10, 1};
  FAILS(sam3rt_image_predict(s, &outside, 1, NULL, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "outside");
  FAILS(sam3rt_image_predict(s, NULL, 0, NULL, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "");
  FAILS(sam3rt_image_predict(s, NULL, 2, NULL, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "points is NULL");
  FAILS(sam3rt_image_predict(s, &click, 1, NULL, NULL, 5, &r), SAM3RT_ERR_INVALID_ARGUMENT, "multimask");
  sam3rt_box inverted = {300, 80, 40, 420};
  FAILS(sam3rt_image_predict(s, NULL, 0, &inverted, NULL, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "x2");
  sam3rt_mask_input both = {(const float*)mask, mask, 332, 500};
  FAILS(sam3rt_image_predict(s, &click, 1, NULL, &both, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "exactly one");
  sam3rt_mask_input small = {NULL, mask, 100, 100};
  FAILS(sam3rt_image_predict(s, &click, 1, NULL, &small, -1, &r), SAM3RT_ERR_INVALID_ARGUMENT, "mask");
  FAILS(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(r == NULL);
  free(mask);
  sam3rt_image_free(s);
  sam3rt_model_free(model);
}

static void test_image_concept(void) {
  const char* oven = keep(fmt("%s/images/oven.jpg", g_data));
  sam3rt_model* model = load(g_demo);
  sam3rt_model_info info;
  OK(sam3rt_model_get_info(model, &info));
  CHECK(info.random_weights == 1);
  sam3rt_image* s = NULL;
  OK(sam3rt_image_create(model, &s));
  OK(sam3rt_image_set_file(s, oven));
  sam3rt_segment_options o = sam3rt_segment_options_default();
  CHECK(o.score_threshold == 0.5f && o.nms == 0 && o.nms_iou == 0.5f && o.max_instances == 0);
  o.score_threshold = 0.0f;
  sam3rt_result* r = NULL;

  /* Text: every query above 0, by score; the CLI's JSON. */
  OK(sam3rt_image_segment(s, "oven", NULL, NULL, 0, &o, &r));
  check_result(r);
  CHECK(r->count > 0 && r->low_res_size == 0);
  for (size_t i = 0; i < r->count; ++i) {
    CHECK(strcmp(r->instances[i].prompt, "oven") == 0);
    CHECK(r->instances[i].id == (int64_t)i);
    CHECK(r->instances[i].low_res_logits == NULL);
    if (i > 0) CHECK(r->instances[i - 1].score >= r->instances[i].score);
  }
  char* expected = cli_segment(g_demo, oven, "--text oven --threshold 0");
  check_same_json(r->json, expected, __LINE__);
  free(expected);
  const size_t all = r->count;
  sam3rt_result_free(r);

  /* max_instances and NMS cut the list. */
  o.max_instances = 2;
  OK(sam3rt_image_segment(s, "oven", NULL, NULL, 0, &o, &r));
  CHECK(r->count == (all < 2 ? all : 2));
  sam3rt_result_free(r);
  o.max_instances = 0;

  /* Exemplar boxes without text ("visual"), one negative; the CLI's JSON. */
  sam3rt_box boxes[2] = {{40, 80, 300, 420}, {10, 10, 60, 60}};
  int positive[2] = {1, 0};
  OK(sam3rt_image_segment(s, NULL, boxes, positive, 2, &o, &r));
  check_result(r);
  for (size_t i = 0; i < r->count; ++i) CHECK(strcmp(r->instances[i].prompt, "visual") == 0);
  expected = cli_segment(g_demo, oven, "--box 40,80,300,420 --box 10,10,60,60,neg --mode concept --threshold 0");
  check_same_json(r->json, expected, __LINE__);
  free(expected);
  sam3rt_result_free(r);

  /* Bad prompts; a text on a model whose text encoder lacks CLIP's vocabulary. */
  FAILS(sam3rt_image_segment(s, NULL, NULL, NULL, 0, &o, &r), SAM3RT_ERR_INVALID_ARGUMENT, "");
  FAILS(sam3rt_image_segment(s, "x", NULL, NULL, 3, &o, &r), SAM3RT_ERR_INVALID_ARGUMENT, "boxes is NULL");
  sam3rt_box outside = {0, 0, 400, 600};
  FAILS(sam3rt_image_segment(s, "x", &outside, NULL, 1, &o, &r), SAM3RT_ERR_INVALID_ARGUMENT, "outside");
  sam3rt_image_free(s);
  sam3rt_model_free(model);

  model = load(fmt("%s/sam3-tiny-seed0/sam3_video", g_data));
  OK(sam3rt_image_create(model, &s));
  OK(sam3rt_image_set_file(s, oven));
  FAILS(sam3rt_image_segment(s, "oven", NULL, NULL, 0, NULL, &r), SAM3RT_ERR_UNSUPPORTED, "knows only 100 tokens");
  sam3rt_image_free(s);
  sam3rt_model_free(model);
  model = load(fmt("%s/sam3-tiny-seed0/sam3_tracker", g_data));
  OK(sam3rt_image_create(model, &s));
  OK(sam3rt_image_set_file(s, oven));
  FAILS(sam3rt_image_segment(s, "oven", NULL, NULL, 0, NULL, &r), SAM3RT_ERR_UNSUPPORTED, "sam3_tracker");
  sam3rt_image_free(s);
  sam3rt_model_free(model);
}

static void test_image_inputs(void) {
  const char* oven = keep(fmt("%s/images/oven.jpg", g_data));
  sam3rt_model* model = load(fmt("%s/sam3-tiny-seed0/sam3_tracker", g_data));
  sam3rt_image* s = NULL;
  OK(sam3rt_image_create(model, &s));
  sam3rt_point click = {120, 200, 1};
  sam3rt_result *from_file = NULL, *from_bytes = NULL, *from_rgb = NULL, *from_strided = NULL;

  OK(sam3rt_image_set_file(s, oven));
  OK(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &from_file));
  size_t n = 0;
  char* bytes = read_file(oven, &n);
  OK(sam3rt_image_set_encoded(s, (const uint8_t*)bytes, n));
  OK(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &from_bytes));
  CHECK(strcmp(from_file->json, from_bytes->json) == 0);

  /* Decoded here, given as RGB rows: tight, then with 7 padding bytes per row. */
  uint8_t* rgb = NULL;
  int64_t w = 0, h = 0;
  OK(sam3rt_decode_image_file(oven, &rgb, &w, &h));
  CHECK(w == 332 && h == 500);
  OK(sam3rt_image_set_rgb(s, rgb, w, h, 0));
  OK(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &from_rgb));
  CHECK(strcmp(from_file->json, from_rgb->json) == 0);
  const int64_t stride = w * 3 + 7;
  uint8_t* padded = malloc((size_t)(stride * h));
  for (int64_t y = 0; y < h; ++y) {
    memcpy(padded + y * stride, rgb + y * w * 3, (size_t)(w * 3));
    memset(padded + y * stride + w * 3, 0xAB, 7);
  }
  OK(sam3rt_image_set_rgb(s, padded, w, h, stride));
  OK(sam3rt_image_predict(s, &click, 1, NULL, NULL, -1, &from_strided));
  CHECK(strcmp(from_file->json, from_strided->json) == 0);
  for (size_t i = 0; i < from_file->count; ++i) {
    CHECK(memcmp(from_file->instances[i].mask, from_strided->instances[i].mask, (size_t)(w * h)) == 0);
  }

  /* Bad images: a corrupt file, a truncated JPEG, a missing file, bad sizes. */
  FAILS(sam3rt_image_set_file(s, fmt("%s/images/not_an_image.png", g_data)), SAM3RT_ERR_CORRUPTION,
        "not_an_image.png");
  FAILS(sam3rt_image_set_encoded(s, (const uint8_t*)bytes, n / 2), SAM3RT_ERR_CORRUPTION, "");
  FAILS(sam3rt_image_set_encoded(s, (const uint8_t*)bytes, 0), SAM3RT_ERR_CORRUPTION, "");
  FAILS(sam3rt_image_set_file(s, "/nonexistent/x.jpg"), SAM3RT_ERR_NOT_FOUND, "/nonexistent/x.jpg");
  sam3rt_free(rgb);  /* the failing call below sets rgb to NULL */
  FAILS(sam3rt_decode_image_file("/nonexistent/y.png", &rgb, &w, &h), SAM3RT_ERR_NOT_FOUND, "y.png");
  CHECK(rgb == NULL);
  FAILS(sam3rt_image_set_rgb(s, padded, 0, 10, 0), SAM3RT_ERR_INVALID_ARGUMENT, "positive");
  FAILS(sam3rt_image_set_rgb(s, padded, 10, 10, 20), SAM3RT_ERR_INVALID_ARGUMENT, "stride");
  FAILS(sam3rt_image_set_rgb(s, NULL, 10, 10, 0), SAM3RT_ERR_INVALID_ARGUMENT, "rgb is NULL");
  FAILS(sam3rt_image_set_rgb(s, padded, 1 << 20, 1 << 20, 0), SAM3RT_ERR_UNSUPPORTED, "larger than");

  free(padded);
  free(bytes);
  sam3rt_result_free(from_file);
  sam3rt_result_free(from_bytes);
  sam3rt_result_free(from_rgb);
  sam3rt_result_free(from_strided);
  sam3rt_image_free(s);
  sam3rt_model_free(model);
}

/* ---- video sessions ------------------------------------------------------------------- */

struct collected {
  int frames;
  int stop_after;     /* 0: never */
  char* json[16];     /* each frame's JSON line */
  int64_t index[16];
  size_t objects[16];
};

static int collect(void* user, const sam3rt_result* frame) {
  struct collected* c = user;
  check_result(frame);
  if (c->frames < 16) {
    c->json[c->frames] = strdup(frame->json);
    c->index[c->frames] = frame->frame;
    c->objects[c->frames] = frame->count;
  }
  ++c->frames;
  return c->stop_after == 0 || c->frames < c->stop_after;
}

static void release(struct collected* c) {
  for (int i = 0; i < c->frames && i < 16; ++i) free(c->json[i]);
  memset(c, 0, sizeof *c);
}

/* Every collected frame's JSON line appears in the CLI's tracks.json. */
static void check_against_cli(const struct collected* c, const char* tracks) {
  for (int i = 0; i < c->frames && i < 16; ++i) {
    if (strstr(tracks, c->json[i]) == NULL) {
      fprintf(stderr, "frame %lld not as the CLI wrote it:\n%s\n", (long long)c->index[i], c->json[i]);
      ++g_failures;
    }
  }
}

static void test_video_clicks(void) {
  const char* dir = keep(fmt("%s/sam3-tiny-seed0/sam3_video", g_data));
  const char* video_dir = keep(fmt("%s/video", g_data));
  sam3rt_model* model = load(dir);
  sam3rt_video* v = NULL;
  FAILS(sam3rt_video_open(model, "/nonexistent/video.mp4", &v), SAM3RT_ERR_NOT_FOUND, "/nonexistent/video.mp4");
  OK(sam3rt_video_open(model, video_dir, &v));
  sam3rt_video_info info;
  OK(sam3rt_video_get_info(v, &info));
  CHECK(info.num_frames == 4 && info.width == 960 && info.height == 540 && info.fps == 0);

  struct collected c = {0};
  FAILS(sam3rt_video_propagate(v, NULL, collect, &c, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "");
  sam3rt_point p = {480, 270, 1};
  sam3rt_box box = {100, 100, 400, 300};
  OK(sam3rt_video_add_points(v, 0, 1, &p, 1));
  OK(sam3rt_video_add_box(v, 0, 2, &box));
  int64_t done = 0;
  OK(sam3rt_video_propagate(v, NULL, collect, &c, &done));
  CHECK(done == 4 && c.frames == 4);
  for (int i = 0; i < 4; ++i) CHECK(c.index[i] == i && c.objects[i] == 2);
  char* tracks = cli_track(dir, video_dir, "--point 0:480,270@1 --box 0:100,100,400,300@2");
  check_against_cli(&c, tracks);
  free(tracks);
  release(&c);

  /* A correction on frame 2, then backwards from frame 3; stopping after two frames. */
  sam3rt_point neg = {470, 260, 0};
  OK(sam3rt_video_add_points(v, 2, 1, &neg, 1));
  sam3rt_propagate_options back = {1, 3, 0};
  OK(sam3rt_video_propagate(v, &back, collect, &c, &done));
  CHECK(done == 4 && c.index[0] == 3 && c.index[3] == 0);
  release(&c);
  c.stop_after = 2;
  OK(sam3rt_video_propagate(v, NULL, collect, &c, &done));
  CHECK(done == 2 && c.frames == 2);
  release(&c);

  /* Bad prompts and options. */
  FAILS(sam3rt_video_add_points(v, 9, 1, &p, 1), SAM3RT_ERR_INVALID_ARGUMENT, "frame 9");
  sam3rt_point outside = {2000, 10, 1};
  FAILS(sam3rt_video_add_points(v, 0, 1, &outside, 1), SAM3RT_ERR_INVALID_ARGUMENT, "outside");
  FAILS(sam3rt_video_add_points(v, 0, 1, NULL, 0), SAM3RT_ERR_INVALID_ARGUMENT, "no points");
  FAILS(sam3rt_video_add_box(v, 0, 3, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "box is NULL");
  FAILS(sam3rt_video_add_mask(v, 0, 3, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "mask is NULL");
  FAILS(sam3rt_video_add_text(v, "person", 0), SAM3RT_ERR_INVALID_ARGUMENT, "");
  FAILS(sam3rt_video_propagate(v, NULL, NULL, NULL, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "on_frame is NULL");
  sam3rt_propagate_options bad = {0, 99, 0};
  FAILS(sam3rt_video_propagate(v, &bad, collect, &c, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "99");
  bad.start_frame = -1;
  bad.max_frames = -3;
  FAILS(sam3rt_video_propagate(v, &bad, collect, &c, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "max_frames");

  /* A mask prompt after a reset (the other prompts forgotten). */
  OK(sam3rt_video_reset(v));
  FAILS(sam3rt_video_propagate(v, NULL, collect, &c, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "");
  uint8_t* mask = calloc(960 * 540, 1);
  for (int y = 200; y < 340; ++y)
    for (int x = 400; x < 560; ++x) mask[y * 960 + x] = 1;
  OK(sam3rt_video_add_mask(v, 1, 7, mask));
  sam3rt_propagate_options from1 = {0, 1, 2};
  OK(sam3rt_video_propagate(v, &from1, collect, &c, &done));
  CHECK(done == 2 && c.index[0] == 1 && c.objects[0] == 1 && strstr(c.json[0], "\"id\":7") != NULL);
  release(&c);
  free(mask);
  sam3rt_video_free(v);
  sam3rt_model_free(model);
}

/* The caller's frames: the four JPEGs decoded here, served by index. */
struct frames {
  uint8_t* rgb[4];
  int64_t w, h;
  int fail_at; /* -1: never */
  int calls;
};

static int read_frame(void* user, int64_t index, uint8_t* out) {
  struct frames* f = user;
  ++f->calls;
  if (index == f->fail_at) return 5;
  memcpy(out, f->rgb[index], (size_t)(f->w * f->h * 3));
  return 0;
}

static void test_video_frames(void) {
  const char* dir = keep(fmt("%s/sam2-tiny-seed0/sam2_video", g_data));
  sam3rt_model* model = load(dir);
  struct frames f = {{0}, 0, 0, -1, 0};
  for (int i = 0; i < 4; ++i) OK(sam3rt_decode_image_file(fmt("%s/video/0000%d.jpg", g_data, i), &f.rgb[i], &f.w, &f.h));
  sam3rt_video *from_folder = NULL, *from_frames = NULL;
  OK(sam3rt_video_open(model, fmt("%s/video", g_data), &from_folder));
  OK(sam3rt_video_create(model, 4, f.w, f.h, 25.0, read_frame, &f, &from_frames));
  sam3rt_video_info info;
  OK(sam3rt_video_get_info(from_frames, &info));
  CHECK(info.num_frames == 4 && info.width == 960 && info.height == 540 && info.fps == 25.0);

  sam3rt_point p = {480, 270, 1};
  struct collected a = {0}, b = {0};
  OK(sam3rt_video_add_points(from_folder, 1, 3, &p, 1));
  OK(sam3rt_video_add_points(from_frames, 1, 3, &p, 1));
  OK(sam3rt_video_propagate(from_folder, NULL, collect, &a, NULL));
  OK(sam3rt_video_propagate(from_frames, NULL, collect, &b, NULL));
  CHECK(a.frames == 3 && b.frames == 3 && a.index[0] == 1);
  for (int i = 0; i < 3 && i < a.frames && i < b.frames; ++i) CHECK(strcmp(a.json[i], b.json[i]) == 0);
  CHECK(f.calls >= 3);
  char* tracks = cli_track(dir, fmt("%s/video", g_data), "--point 1:480,270@3");
  check_against_cli(&b, tracks);
  free(tracks);
  release(&a);
  release(&b);

  /* The caller's function fails on frame 0 going backwards: an I/O error naming it. */
  f.fail_at = 0;
  sam3rt_propagate_options back = {1, -1, 0};
  FAILS(sam3rt_video_propagate(from_frames, &back, collect, &b, NULL), SAM3RT_ERR_IO, "frame 0");
  release(&b);

  sam3rt_video* v = NULL;
  FAILS(sam3rt_video_create(model, 0, 10, 10, 0, read_frame, &f, &v), SAM3RT_ERR_INVALID_ARGUMENT, "num_frames");
  FAILS(sam3rt_video_create(model, 4, 0, 10, 0, read_frame, &f, &v), SAM3RT_ERR_INVALID_ARGUMENT, "size");
  FAILS(sam3rt_video_create(model, 4, 10, 10, -1, read_frame, &f, &v), SAM3RT_ERR_INVALID_ARGUMENT, "fps");
  FAILS(sam3rt_video_create(model, 4, 10, 10, 0, NULL, &f, &v), SAM3RT_ERR_INVALID_ARGUMENT, "read_frame is NULL");
  FAILS(sam3rt_video_get_info(from_frames, NULL), SAM3RT_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(v == NULL);

  sam3rt_video_free(from_folder);
  sam3rt_video_free(from_frames);
  for (int i = 0; i < 4; ++i) sam3rt_free(f.rgb[i]);
  sam3rt_model_free(model);
}

static void test_video_text(void) {
  const char* video_dir = keep(fmt("%s/video", g_data));
  sam3rt_model* model = load(g_demo);
  sam3rt_video* v = NULL;
  OK(sam3rt_video_open(model, video_dir, &v));
  FAILS(sam3rt_video_add_text(v, NULL, 0), SAM3RT_ERR_INVALID_ARGUMENT, "text is NULL");
  FAILS(sam3rt_video_add_text(v, "", 0), SAM3RT_ERR_INVALID_ARGUMENT, "");
  OK(sam3rt_video_add_text(v, "person", 0));
  sam3rt_point p = {10, 10, 1};
  FAILS(sam3rt_video_add_points(v, 0, 1, &p, 1), SAM3RT_ERR_INVALID_ARGUMENT, "text");
  struct collected c = {0};
  int64_t done = 0;
  OK(sam3rt_video_propagate(v, NULL, collect, &c, &done));
  CHECK(done == 4 && c.frames == 4);
  char* tracks = cli_track(g_demo, video_dir, "--text person");
  check_against_cli(&c, tracks);
  free(tracks);
  release(&c);
  sam3rt_video_free(v);
  sam3rt_model_free(model);

  model = load(fmt("%s/sam2-tiny-seed0/sam2_video", g_data));
  OK(sam3rt_video_open(model, video_dir, &v));
  FAILS(sam3rt_video_add_text(v, "person", 0), SAM3RT_ERR_UNSUPPORTED, "sam2_video");
  sam3rt_video_free(v);
  sam3rt_model_free(model);
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s CASE DATA_DIR CLI DEMO_MODEL WORK_DIR\n", argv[0]);
    return 2;
  }
  g_data = argv[2];
  g_cli = argv[3];
  g_demo = argv[4];
  g_work = strdup(fmt("%s/%s", argv[5], argv[1]));
  mkdir(argv[5], 0755);
  mkdir(g_work, 0755);
  static const struct {
    const char* name;
    void (*run)(void);
  } cases[] = {
      {"errors", test_errors},           {"model", test_model},
      {"image_object", test_image_object}, {"image_concept", test_image_concept},
      {"image_inputs", test_image_inputs}, {"video_clicks", test_video_clicks},
      {"video_frames", test_video_frames}, {"video_text", test_video_text},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    if (strcmp(cases[i].name, argv[1]) == 0) {
      cases[i].run();
      if (g_failures > 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", argv[1], g_failures);
        return 1;
      }
      printf("%s: passed\n", argv[1]);
      return 0;
    }
  }
  fprintf(stderr, "unknown case %s\n", argv[1]);
  return 2;
}
