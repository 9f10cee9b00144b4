// The HTTP API end to end: a real sam3rt::server::Server on a loopback port with a tiny
// random-weight checkpoint (real CLIP vocabulary), driven by httplib::Client. Every
// endpoint and every error path; segmentation answers are compared with what
// ImageSession gives directly for the same image and prompts; per-image serialisation,
// the LRU budget, limits, and `sam3rt serve` shutting down cleanly on SIGINT / SIGTERM.
#include <ATen/ops/arange.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include "pipeline/random_checkpoint.h"
#include "sam3rt/sam3rt.h"
#include "sam3rt/server.h"
#include "server/api.h"
#include "server/page.h"
#include "server/session_cache.h"
#include "testing/cli.h"

extern char** environ;

namespace sam3rt::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kImages = std::string(SAM3RT_TEST_DATA) + "/images";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A deterministic [H, W, 3] picture (gradients), as PNG bytes.
at::Tensor test_rgb(int64_t h, int64_t w) {
  at::Tensor y = at::arange(h, at::TensorOptions().dtype(at::kLong)).view({h, 1}).expand({h, w});
  at::Tensor x = at::arange(w, at::TensorOptions().dtype(at::kLong)).view({1, w}).expand({h, w});
  return at::stack({x.mul(7).remainder(256), y.mul(5).remainder(256), x.add(y).mul(3).remainder(256)}, 2)
      .to(at::kByte)
      .contiguous();
}
std::string png_bytes(const at::Tensor& rgb) {
  const auto v = encode_png(rgb);
  return {v.begin(), v.end()};
}

std::vector<uint8_t> base64_decode(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = val(c);
    EXPECT_GE(v, 0) << "not base64: " << c;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// Request pieces. Arrays are built explicitly: a braced list holding one json value is
// ambiguous between "copy" and "array of one".
json pt(double x, double y, int label = 1) { return {{"x", x}, {"y", y}, {"label", label}}; }
json pt2(double x, double y) { return {{"x", x}, {"y", y}}; }
json bx(double x1, double y1, double x2, double y2, int label = 1) {
  return {{"x1", x1}, {"y1", y1}, {"x2", x2}, {"y2", y2}, {"label", label}};
}
json arr(std::initializer_list<json> items) {
  json a = json::array();
  for (const auto& item : items) a.push_back(item);
  return a;
}

// One tiny random checkpoint for the whole suite: the fixture's widths with the real
// CLIP vocabulary (tests/server/tiny_config.json), so text prompts tokenise for real.
fs::path checkpoint_dir() {
  return fs::path(::testing::TempDir()) / ("sam3rt_server_test_" + std::to_string(::getpid()));
}

struct TestModel {
  TestModel() {
    pipeline::RandomCheckpointOptions o;
    o.seed = 7;
    pipeline::make_random_checkpoint(std::string(SAM3RT_TEST_DATA) + "/../server/tiny_config.json",
                                     checkpoint_dir().string(), o);
    ModelOptions mo;
    mo.model_dir = checkpoint_dir().string();
    mo.num_threads = 1;
    model = Model::load(mo);
  }
  ~TestModel() {
    std::error_code ec;
    fs::remove_all(checkpoint_dir(), ec);
  }
  std::shared_ptr<const Model> model;
};

std::shared_ptr<const Model> test_model() {
  static TestModel m;
  return m.model;
}

struct Reply {
  int status = 0;
  json body;
  std::string raw;
  std::string content_type;
};

Reply reply_of(const httplib::Result& r) {
  Reply out;
  EXPECT_TRUE(r) << "no HTTP response: " << httplib::to_string(r.error());
  if (!r) return out;
  out.status = r->status;
  out.raw = r->body;
  out.content_type = r->get_header_value("Content-Type");
  if (out.content_type == "application/json") out.body = json::parse(r->body);
  return out;
}

// Checks the error shape: {"error": {"status": S, "code": "...", "message": "...needle..."}}.
void expect_error(const Reply& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_EQ(r.content_type, "application/json") << r.raw;
  ASSERT_TRUE(r.body.contains("error")) << r.raw;
  EXPECT_EQ(r.body["error"]["status"], status) << r.raw;
  EXPECT_TRUE(r.body["error"]["code"].is_string()) << r.raw;
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find(needle), std::string::npos)
      << "message lacks '" << needle << "': " << r.raw;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server(test_model(), defaults());
    port_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerOptions defaults() {
    ServerOptions o;
    o.port = 0;
    o.http_threads = 8;
    return o;
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    return c;
  }
  Reply get(const std::string& path) { return reply_of(client().Get(path.c_str())); }
  Reply post(const std::string& path, const std::string& body, const std::string& type = "application/json") {
    return reply_of(client().Post(path.c_str(), body, type.c_str()));
  }
  Reply del(const std::string& path) { return reply_of(client().Delete(path.c_str())); }
  std::string upload(const std::string& bytes, const std::string& type = "image/png") {
    const Reply r = post("/v1/images", bytes, type);
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.body.value("id", "");
  }
  Reply segment(const std::string& id, const json& request) {
    return post("/v1/images/" + id + "/segment", request.dump());
  }

  static Server* server_;
  static int port_;
};
Server* ServerTest::server_ = nullptr;
int ServerTest::port_ = 0;

TEST_F(ServerTest, HealthAndModel) {
  const Reply h = get("/v1/health");
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["status"], "ok");
  EXPECT_EQ(h.body["cache_budget_bytes"], defaults().cache_bytes);
  EXPECT_TRUE(h.body["images"].is_number_unsigned());

  const Reply m = get("/v1/model");
  ASSERT_EQ(m.status, 200) << m.raw;
  EXPECT_EQ(m.body["type"], "sam3_video");
  EXPECT_EQ(m.body["image_size"], 224);
  EXPECT_EQ(m.body["concept"], true);
  EXPECT_EQ(m.body["object"], true);
  EXPECT_EQ(m.body["random_weights"], true);
  EXPECT_EQ(m.body["limits"]["max_prompts"], defaults().max_prompts);
  EXPECT_EQ(m.body["limits"]["max_body_bytes"], defaults().max_body_bytes);
}

TEST_F(ServerTest, ServesThePage) {
  auto r = client().Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->body, std::string(index_html()));
  for (const char* needle : {"<canvas id=\"prompts\"", "v1/images", "decodeRle", "download-png", "download-json"}) {
    EXPECT_NE(r->body.find(needle), std::string::npos) << needle;
  }
}

TEST_F(ServerTest, UploadRawAndMultipart) {
  const at::Tensor rgb = test_rgb(48, 64);
  const Reply a = post("/v1/images", png_bytes(rgb), "image/png");
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_TRUE(std::regex_match(a.body["id"].get<std::string>(), std::regex("[0-9a-f]{32}")));
  EXPECT_EQ(a.body["width"], 64);
  EXPECT_EQ(a.body["height"], 48);
  EXPECT_GE(a.body["timings_ms"]["encode"].get<double>(), 0.0);

  httplib::MultipartFormDataItems items = {{"image", png_bytes(rgb), "pic.png", "image/png"}};
  const Reply b = reply_of(client().Post("/v1/images", items));
  ASSERT_EQ(b.status, 200) << b.raw;
  EXPECT_NE(b.body["id"], a.body["id"]);
  EXPECT_EQ(b.body["width"], 64);

  // A real JPEG: the size is the decoded one.
  const Reply c = post("/v1/images", read_file(kImages + "/oven.jpg"), "image/jpeg");
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["width"], 332);
  EXPECT_EQ(c.body["height"], 500);
  // EXIF orientation 6 turns the stored 48x32 into 32x48.
  const Reply d = post("/v1/images", read_file(kImages + "/exif_rotate90.jpg"), "image/jpeg");
  ASSERT_EQ(d.status, 200) << d.raw;
  EXPECT_EQ(d.body["width"], 32);
  EXPECT_EQ(d.body["height"], 48);
}

TEST_F(ServerTest, UploadErrors) {
  expect_error(post("/v1/images", "", "image/png"), 400, "empty upload");
  expect_error(post("/v1/images", read_file(kImages + "/not_an_image.png"), "image/png"), 415, "PNG or JPEG");
  // A BMP (OpenCV would read it, allocating what its header says): refused unread.
  const std::string bmp("BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x30\x75\0\0\x30\x75\0\0\x01\0\x18\0", 30);
  expect_error(post("/v1/images", bmp, "image/bmp"), 415, "PNG or JPEG");
  std::string truncated = png_bytes(test_rgb(16, 16));
  truncated.resize(truncated.size() / 2);
  expect_error(post("/v1/images", truncated, "image/png"), 400, "uploaded image");
  expect_error(post("/v1/images", read_file(kImages + "/zero_width.png"), "image/png"), 400, "uploaded image");
  // 40000 x 40000 in the header: refused before decoding.
  expect_error(post("/v1/images", read_file(kImages + "/huge_header.png"), "image/png"), 413, "40000x40000");
  // A header whose width x height overflows int64 (found by fuzz/image_fuzz.cpp: the
  // pixel check multiplied them): still 413, not undefined behaviour.
  const std::string overflowing("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\xdd\x3b\xc9\x90\xff\xff\xf7\x00\x31\x24\x5b\x49IEND\xae", 32);
  expect_error(post("/v1/images", overflowing, "image/png"), 413, "3711682960x4294964992");
  httplib::MultipartFormDataItems items = {{"file", png_bytes(test_rgb(8, 8)), "pic.png", "image/png"}};
  expect_error(reply_of(client().Post("/v1/images", items)), 400, "\"image\"");
}

TEST_F(ServerTest, ConceptSegmentationMatchesImageSession) {
  const at::Tensor rgb = test_rgb(48, 64);
  const std::string id = upload(png_bytes(rgb));
  const Reply r = segment(id, {{"text", {"shoe", "red bag"}}, {"threshold", 0.0}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["image_id"], id);
  EXPECT_EQ(r.body["mode"], "concept");
  EXPECT_EQ(r.body["model"], "sam3_video");
  EXPECT_EQ(r.body["note"], "random-weight checkpoint: masks are meaningless");
  EXPECT_EQ(r.body["image"], (json{{"width", 64}, {"height", 48}}));
  EXPECT_TRUE(r.body["timings_ms"].contains("detector"));

  // The same prompts straight through the library give the same instances.
  ImageSession session(test_model());
  session.set_image(decode_image(reinterpret_cast<const uint8_t*>(png_bytes(rgb).data()), png_bytes(rgb).size(), "test"));
  SegmentRequest request;
  request.texts = {"shoe", "red bag"};
  request.options.score_threshold = 0;
  JsonOptions no_timings;
  no_timings.timings = false;
  const json want = json::parse(answer_json(session.run(request), no_timings));
  ASSERT_EQ(r.body["instances"].size(), want["instances"].size());
  ASSERT_EQ(want["instances"].size(), 16u);  // 8 queries a prompt, nothing filtered at 0
  std::set<std::string> prompts;
  for (size_t i = 0; i < want["instances"].size(); ++i) {
    const json& got = r.body["instances"][i];
    const json& w = want["instances"][i];
    EXPECT_EQ(got["prompt"], w["prompt"]) << i;
    EXPECT_EQ(got["box"], w["box"]) << i;
    EXPECT_EQ(got["area"], w["area"]) << i;
    EXPECT_EQ(got["mask"], w["mask"]) << i;
    EXPECT_FLOAT_EQ(got["score"].get<float>(), w["score"].get<float>()) << i;
    if (i > 0) EXPECT_GE(r.body["instances"][i - 1]["score"].get<float>(), got["score"].get<float>());
    prompts.insert(got["prompt"].get<std::string>());
  }
  EXPECT_EQ(prompts, (std::set<std::string>{"shoe", "red bag"}));
  // The RLE covers the image and its pixel count is the area.
  const json& m = r.body["instances"][0]["mask"];
  EXPECT_EQ(m["size"], (json{48, 64}));
  const at::Tensor mask = decode_coco_rle({48, 64, m["counts"].get<std::string>()});
  EXPECT_EQ(mask.sum().item<int64_t>(), r.body["instances"][0]["area"].get<int64_t>());

  // A threshold above every random score keeps nothing; max_instances caps.
  const Reply none = segment(id, {{"text", "shoe"}, {"threshold", 1.0}});
  ASSERT_EQ(none.status, 200) << none.raw;
  EXPECT_EQ(none.body["instances"].size(), 0u);
  const Reply capped = segment(id, {{"text", "shoe"}, {"threshold", 0.0}, {"max_instances", 3}});
  ASSERT_EQ(capped.status, 200) << capped.raw;
  EXPECT_EQ(capped.body["instances"].size(), 3u);
}

// One result model, rendered once: `sam3rt segment --no-timings` and the server (with
// "timings": false) write the same bytes for the same image and prompts; the server's
// answer has one line more, the image_id it was asked about.
TEST_F(ServerTest, CliAndServerWriteTheSameJson) {
  const at::Tensor rgb = test_rgb(48, 64);
  const fs::path dir = checkpoint_dir().parent_path() / ("sam3rt_same_json_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string image = (dir / "picture.png").string();
  write_png(image, rgb);
  const std::string id = upload(png_bytes(rgb));
  struct Case {
    std::string flags;
    json request;
  };
  const std::vector<Case> cases = {
      {"--text shoe --text 'red bag' --threshold 0", {{"text", {"shoe", "red bag"}}, {"threshold", 0.0}}},
      {"--text shoe --box 4,6,30,40 --threshold 0.01", {{"text", "shoe"}, {"boxes", arr({bx(4, 6, 30, 40)})}, {"threshold", 0.01}}},
      {"--point 20,14", {{"points", arr({pt(20, 14)})}}},
      {"--point 20,14 --point 50,30,neg --best", {{"points", arr({pt(20, 14), pt(50, 30, 0)})}, {"best", true}}},
      {"--mode object --box 5,5,40,30", {{"mode", "object"}, {"boxes", arr({bx(5, 5, 40, 30)})}}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const fs::path out = dir / ("case" + std::to_string(i));
    const testing::CliRun cli = testing::run_cli("segment --model " + checkpoint_dir().string() + " --image " + image +
                                                 " --out " + out.string() + " --threads 1 --no-timings " +
                                                 cases[i].flags);
    ASSERT_EQ(cli.code, 0) << cli.output;
    json request = cases[i].request;
    request["timings"] = false;
    const Reply r = segment(id, request);
    ASSERT_EQ(r.status, 200) << r.raw;
    const std::string id_line = "  \"image_id\": \"" + id + "\",\n";
    std::string server = r.raw;
    const size_t at = server.find(id_line);
    ASSERT_NE(at, std::string::npos) << server;
    server.erase(at, id_line.size());
    EXPECT_EQ(server, read_file((out / "result.json").string())) << cases[i].flags;
  }
  fs::remove_all(dir);
}

TEST_F(ServerTest, PngMasksAndOverlayOnRequest) {
  const std::string id = upload(png_bytes(test_rgb(40, 56)));
  const Reply r = segment(id, {{"text", "cat"}, {"threshold", 0.0}, {"max_instances", 4}, {"png", true},
                               {"overlay", true}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["instances"].size(), 4u);
  for (const auto& inst : r.body["instances"]) {
    const auto png = base64_decode(inst["mask_png"].get<std::string>());
    const at::Tensor decoded = decode_image(png.data(), png.size(), "mask_png");  // [H, W, 3]
    const at::Tensor rle = decode_coco_rle({40, 56, inst["mask"]["counts"].get<std::string>()});
    EXPECT_TRUE(decoded.select(2, 0).equal(rle.to(at::kByte).mul(255)));
  }
  const auto overlay = base64_decode(r.body["overlay_png"].get<std::string>());
  const at::Tensor o = decode_image(overlay.data(), overlay.size(), "overlay_png");
  EXPECT_EQ(o.sizes(), (at::IntArrayRef{40, 56, 3}));
  // Without the flags there are no PNGs.
  const Reply plain = segment(id, {{"text", "cat"}, {"threshold", 0.0}});
  EXPECT_FALSE(plain.body.contains("overlay_png"));
  EXPECT_FALSE(plain.body["instances"][0].contains("mask_png"));
}

TEST_F(ServerTest, ExemplarBoxesAndModes) {
  const std::string id = upload(png_bytes(test_rgb(48, 64)));
  const json box = bx(4, 6, 30, 40);
  // Text plus exemplar boxes: concept mode by default.
  const Reply a = segment(id, {{"text", "shoe"}, {"boxes", arr({box})}, {"threshold", 0.0}});
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["mode"], "concept");
  // The box changes the answer (it is an exemplar, not ignored).
  const Reply t = segment(id, {{"text", "shoe"}, {"threshold", 0.0}});
  EXPECT_NE(a.body["instances"], t.body["instances"]);
  // Boxes alone are ambiguous, as in the CLI; with a mode they run.
  expect_error(segment(id, {{"boxes", arr({box})}}), 400, "ambiguous");
  const Reply v = segment(id, {{"boxes", arr({box})}, {"mode", "concept"}, {"threshold", 0.0}});
  ASSERT_EQ(v.status, 200) << v.raw;
  EXPECT_EQ(v.body["instances"][0]["prompt"], "visual");
  // A negative exemplar is accepted (label 0).
  json neg = box;
  neg["label"] = 0;
  EXPECT_EQ(segment(id, {{"text", "shoe"}, {"boxes", arr({box, neg})}}).status, 200);
}

TEST_F(ServerTest, ObjectModeMatchesImageSessionPredict) {
  const at::Tensor rgb = test_rgb(48, 64);
  const std::string id = upload(png_bytes(rgb));
  // One click: three candidates (the CLI's default), highest IoU first.
  const Reply r = segment(id, {{"points", arr({pt(20, 14)})}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["mode"], "object");
  EXPECT_EQ(r.body["image_id"], id);
  EXPECT_EQ(r.body["prompt"]["multimask"], true);
  EXPECT_EQ(r.body["prompt"]["points"], json::parse(R"([{"x": 20.0, "y": 14.0, "positive": true}])"));
  const json& got = r.body["instances"];
  ASSERT_EQ(got.size(), 3u);

  ImageSession session(test_model());
  session.set_image(rgb);
  ObjectPrompt click;
  click.points = {{20, 14, true}};
  const ObjectResult want = session.predict(click);
  ASSERT_EQ(want.candidates.size(), 3u);
  std::set<int> slots;
  for (size_t k = 0; k < 3; ++k) {
    const int c = got[k]["candidate"];
    slots.insert(c);
    const ObjectMask& w = want.candidates[static_cast<size_t>(c)];
    EXPECT_FLOAT_EQ(got[k]["iou"].get<float>(), w.iou) << k;
    EXPECT_FLOAT_EQ(got[k]["object_score"].get<float>(), w.object_score) << k;
    EXPECT_EQ(got[k]["best"], c == want.best) << k;
    EXPECT_EQ(got[k]["area"], w.area) << k;
    EXPECT_EQ(got[k]["mask"]["counts"], encode_coco_rle(w.mask).counts) << k;
    EXPECT_EQ(got[k]["box"], (json{w.box.x1, w.box.y1, w.box.x2, w.box.y2})) << k;
    EXPECT_FALSE(got[k].contains("score"));
    if (k > 0) EXPECT_GE(got[k - 1]["iou"].get<float>(), got[k]["iou"].get<float>());
  }
  EXPECT_EQ(slots, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(got[0]["best"], true);

  // Several clicks or a box: one mask unless asked; "best" keeps one.
  const json two = arr({pt(20, 14), pt(50, 30, 0)});
  const Reply one = segment(id, {{"points", two}});
  ASSERT_EQ(one.status, 200) << one.raw;
  EXPECT_EQ(one.body["instances"].size(), 1u);
  EXPECT_EQ(one.body["prompt"]["points"][1]["positive"], false);
  EXPECT_EQ(segment(id, {{"points", two}, {"multimask", true}}).body["instances"].size(), 3u);
  const Reply best = segment(id, {{"points", arr({pt(20, 14)})}, {"best", true}});
  ASSERT_EQ(best.body["instances"].size(), 1u);
  EXPECT_EQ(best.body["instances"][0], got[0]);
  const Reply boxed = segment(id, {{"mode", "object"}, {"boxes", arr({bx(5, 5, 40, 30)})}});
  ASSERT_EQ(boxed.status, 200) << boxed.raw;
  EXPECT_EQ(boxed.body["instances"].size(), 1u);
  EXPECT_EQ(boxed.body["prompt"]["box"], (json{5.0, 5.0, 40.0, 30.0}));

  // A previous mask as mask_input (alone it means object mode); PNGs work here too.
  const json previous = got[0]["mask"];
  const Reply refined = segment(id, {{"mask_input", previous}, {"points", arr({pt(20, 14)})}, {"png", true},
                                     {"overlay", true}});
  ASSERT_EQ(refined.status, 200) << refined.raw;
  EXPECT_EQ(refined.body["prompt"]["mask_input"], true);
  EXPECT_TRUE(refined.body["instances"][0].contains("mask_png"));
  EXPECT_TRUE(refined.body.contains("overlay_png"));
  const Reply mask_only = segment(id, {{"mask_input", previous}});
  ASSERT_EQ(mask_only.status, 200) << mask_only.raw;
  EXPECT_EQ(mask_only.body["mode"], "object");

  expect_error(segment(id, {{"mode", "object"}, {"boxes", arr({bx(5, 5, 40, 30, 0)})}}), 400, "positive box");
  expect_error(segment(id, {{"mode", "object"}, {"boxes", arr({bx(5, 5, 40, 30), bx(1, 1, 9, 9)})}}), 400,
               "at most one box");
  expect_error(segment(id, {{"mode", "object"}}), 400, "object mode needs");
  const std::string empty_10x10 = encode_coco_rle(at::zeros({10, 10}, at::TensorOptions().dtype(at::kBool))).counts;
  expect_error(segment(id, {{"mask_input", {{"size", {10, 10}}, {"counts", empty_10x10}}}}), 400,
               "the image's size 64x48");
  expect_error(segment(id, {{"mask_input", {{"size", {48, 64}}, {"counts", "9"}}}}), 400, "mask_input");
  expect_error(segment(id, {{"mask_input", "all"}}), 400, "COCO RLE");
}

TEST_F(ServerTest, SegmentRequestErrors) {
  const std::string id = upload(png_bytes(test_rgb(48, 64)));
  expect_error(segment(id, json::object()), 400, "no prompt");
  expect_error(post("/v1/images/" + id + "/segment", "{not json"), 400, "not valid JSON");
  expect_error(post("/v1/images/" + id + "/segment", "[1, 2]"), 400, "JSON object");
  expect_error(segment(id, {{"txt", "shoe"}}), 400, "unknown key \"txt\"");
  expect_error(segment(id, {{"text", 5}}), 400, "\"text\"");
  expect_error(segment(id, {{"text", ""}}), 400, "empty");
  expect_error(segment(id, {{"text", std::string(300, 'a')}}), 400, "limit is 256");
  expect_error(segment(id, {{"text", "a"}, {"threshold", 2}}), 400, "threshold");
  expect_error(segment(id, {{"text", "a"}, {"nms", -1}}), 400, "nms");
  expect_error(segment(id, {{"text", "a"}, {"max_instances", 1.5}}), 400, "max_instances");
  expect_error(segment(id, {{"text", "a"}, {"multimask", "yes"}}), 400, "multimask");
  expect_error(segment(id, {{"text", "a"}, {"mode", "everything"}}), 400, "the mode must be concept or object");
  expect_error(segment(id, {{"text", "a"}, {"boxes", arr({bx(0, 0, 65, 10)})}}), 400,
               "outside the 64x48 image");
  expect_error(segment(id, {{"text", "a"}, {"boxes", arr({bx(9, 0, 3, 10)})}}), 400,
               "x2 > x1");
  expect_error(segment(id, {{"text", "a"}, {"boxes", arr({json{{"x1", 0}, {"y1", 0}, {"x2", 5}}})}}), 400, "missing \"y2\"");
  expect_error(segment(id, {{"text", "a"}, {"boxes", arr({bx(0, 0, 5, 5, 3)})}}),
               400, "label");
  expect_error(segment(id, {{"text", {"a", "b"}}, {"boxes", arr({bx(0, 0, 5, 5)})}}), 400,
               "single text");
  expect_error(segment(id, {{"mode", "concept"}, {"text", "a"}, {"points", arr({pt2(1, 1)})}}), 400,
               "points belong to object mode");
  expect_error(segment(id, {{"text", "a"}, {"points", arr({pt2(1, 1)})}}), 400, "a text belongs to concept mode");
  expect_error(segment(id, {{"points", arr({pt2(100, 1)})}}), 400, "outside");
  json many = json::array();
  for (int i = 0; i < 33; ++i) many.push_back("t" + std::to_string(i));
  expect_error(segment(id, {{"text", many}}), 400, "too many prompts");
  // Unknown image, unknown endpoint.
  expect_error(segment("0123456789abcdef0123456789abcdef", {{"text", "a"}}), 404, "not found");
  expect_error(get("/v1/nothing"), 404, "no such endpoint: GET /v1/nothing");
  expect_error(post("/v1/images/" + id, "{}"), 404, "no such endpoint");
}

TEST_F(ServerTest, DeleteForgetsTheImage) {
  const std::string id = upload(png_bytes(test_rgb(32, 32)));
  ASSERT_EQ(segment(id, {{"text", "a"}}).status, 200);
  const Reply d = del("/v1/images/" + id);
  ASSERT_EQ(d.status, 200) << d.raw;
  EXPECT_EQ(d.body["deleted"], id);
  expect_error(segment(id, {{"text", "a"}}), 404, id);
  expect_error(del("/v1/images/" + id), 404, id);
}

TEST_F(ServerTest, ConcurrentRequestsOnOneImageAndOnSeveral) {
  const std::string a = upload(png_bytes(test_rgb(48, 64)));
  const std::string b = upload(png_bytes(test_rgb(40, 40)));
  const json text = {{"text", "shoe"}, {"threshold", 0.0}};
  const json click = {{"points", arr({pt(12, 9)})}};
  // Concept and object requests interleaved on one image, answered as when serial.
  const json want_a = segment(a, text).body["instances"];
  const json want_a_click = segment(a, click).body["instances"];
  const json want_b = segment(b, text).body["instances"];
  ASSERT_EQ(want_a.size(), 8u);
  ASSERT_EQ(want_a_click.size(), 3u);
  std::atomic<int> ok{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const bool on_a = (t + i) % 3 != 0, object = on_a && (t + i) % 2 == 0;
        const Reply r = segment(on_a ? a : b, object ? click : text);
        const json& want = !on_a ? want_b : object ? want_a_click : want_a;
        if (r.status == 200 && r.body["instances"] == want) ++ok;
        else ++wrong;
        if (get("/v1/health").status != 200) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 32);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ServerLimits, BodySizePixelsPromptsAndCacheBudget) {
  auto model = test_model();
  ServerOptions o;
  o.port = 0;
  o.max_body_bytes = 4096;
  o.max_image_pixels = 40 * 40;
  o.max_prompts = 3;
  const size_t per_image = model->estimated_image_bytes(32, 32);
  o.cache_bytes = 2 * per_image + per_image / 2;  // room for two 32x32 images
  Server server(model, o);
  const int port = server.start();
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60);
  auto upload = [&](const std::string& bytes) { return reply_of(c.Post("/v1/images", bytes, "image/png")); };

  expect_error(upload(std::string(5000, 'x')), 413, "too large");
  expect_error(upload(png_bytes(test_rgb(41, 40))), 413, "limit is 1600 pixels");
  const Reply first = upload(png_bytes(test_rgb(32, 32)));
  ASSERT_EQ(first.status, 200) << first.raw;
  const std::string id1 = first.body["id"];
  auto seg = [&](const std::string& id, const json& j) {
    return reply_of(c.Post(("/v1/images/" + id + "/segment").c_str(), j.dump(), "application/json"));
  };
  expect_error(seg(id1, {{"text", {"a", "b", "c", "d"}}}), 400, "limit is 3");
  EXPECT_EQ(seg(id1, {{"text", {"a", "b", "c"}}}).status, 200);

  // LRU: id1, id2 fit; touching id1 makes id2 the oldest, so id3 evicts id2.
  const std::string id2 = upload(png_bytes(test_rgb(32, 32))).body["id"];
  ASSERT_EQ(seg(id1, {{"text", "a"}}).status, 200);
  const std::string id3 = upload(png_bytes(test_rgb(32, 32))).body["id"];
  EXPECT_EQ(seg(id1, {{"text", "a"}}).status, 200);
  EXPECT_EQ(seg(id3, {{"text", "a"}}).status, 200);
  expect_error(seg(id2, {{"text", "a"}}), 404, "evicted");
  const Reply h = reply_of(c.Get("/v1/health"));
  EXPECT_EQ(h.body["images"], 2);
  EXPECT_EQ(h.body["evictions"], 1);
  EXPECT_EQ(h.body["cache_bytes"], 2 * per_image);

  server.stop();
  server.stop();  // idempotent
  EXPECT_FALSE(c.Get("/v1/health"));
}

// A SAM 2.1 checkpoint behind the server: clicks answer as the library does, a text prompt
// is refused (422) naming the model type, and /v1/model says what it is.
TEST(ServerSam2, ClicksWorkAndTextIsRefused) {
  ModelOptions mo;
  mo.model_dir = SAM3RT_TEST_DATA "/sam2-tiny-seed0/sam2_video";
  const auto model = Model::load(mo);
  ServerOptions o;
  o.port = 0;
  Server server(model, o);
  const int port = server.start();
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60);
  const at::Tensor rgb = test_rgb(48, 64);
  const Reply up = reply_of(c.Post("/v1/images", png_bytes(rgb), "image/png"));
  ASSERT_EQ(up.status, 200) << up.raw;
  const std::string id = up.body["id"];
  auto seg = [&](const json& j) {
    return reply_of(c.Post(("/v1/images/" + id + "/segment").c_str(), j.dump(), "application/json"));
  };
  const Reply r = seg({{"points", json::array({{{"x", 20}, {"y", 14}, {"label", 1}}})}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["model"], "sam2_video");
  ASSERT_EQ(r.body["instances"].size(), 3u);
  ImageSession session(model);
  session.set_image(rgb);
  ObjectPrompt click;
  click.points = {{20, 14, true}};
  const ObjectResult want = session.predict(click);
  const int best = r.body["instances"][0]["candidate"];
  EXPECT_EQ(r.body["instances"][0]["mask"]["counts"],
            encode_coco_rle(want.candidates[static_cast<size_t>(best)].mask).counts);
  expect_error(seg({{"text", "a cat"}}), 422, "sam2_video has no concept detector");
  server.stop();
}

TEST(ServerLimits, RejectsBadOptionsAndBusyPorts) {
  auto model = test_model();
  ServerOptions o;
  o.port = 0;
  EXPECT_THROW(Server(nullptr, o), Error);
  ServerOptions bad = o;
  bad.inference_slots = 0;
  EXPECT_THROW(Server(model, bad), Error);
  bad = o;
  bad.port = 70000;
  EXPECT_THROW(Server(model, bad), Error);

  Server first(model, o);
  const int port = first.start();
  EXPECT_THROW(first.start(), Error);
  ServerOptions same = o;
  same.port = port;
  Server second(model, same);
  try {
    second.start();
    ADD_FAILURE() << "bound a port already in use";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos);
  }
}

TEST(ServerApi, StatusMappingAndHelpers) {
  EXPECT_EQ(http_status_for(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status_for(ErrorCode::kUnsupported), 422);
  EXPECT_EQ(http_status_for(ErrorCode::kIo), 500);
  EXPECT_EQ(http_status_for(ErrorCode::kCorruption), 500);
  EXPECT_EQ(http_status_for(ErrorCode::kInternal), 500);
  EXPECT_EQ(json::parse(error_body(404, "not found", "no \xff image")),
            (json{{"error", {{"status", 404}, {"code", "not found"}, {"message", "no \xef\xbf\xbd image"}}}}));

  const auto b64 = [](const std::string& s) {
    return base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(b64("\xff\xfe"), "//4=");

  const auto probe = [](const std::string& path) {
    const std::string bytes = read_file(path);
    return probe_image_size(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  EXPECT_EQ(probe(kImages + "/huge_header.png"), std::make_pair(int64_t{40000}, int64_t{40000}));
  EXPECT_EQ(probe(kImages + "/gray.png"), std::make_pair(int64_t{16}, int64_t{4}));
  EXPECT_EQ(probe(kImages + "/oven.jpg"), std::make_pair(int64_t{332}, int64_t{500}));
  EXPECT_EQ(probe(kImages + "/progressive.jpg"), std::make_pair(int64_t{64}, int64_t{48}));
  EXPECT_EQ(probe(kImages + "/exif_rotate90.jpg"), std::make_pair(int64_t{48}, int64_t{32}));  // as stored
  EXPECT_EQ(probe(kImages + "/not_an_image.png"), std::nullopt);
  const std::string jpeg_start = "\xff\xd8\xff";
  EXPECT_EQ(probe_image_size(reinterpret_cast<const uint8_t*>(jpeg_start.data()), jpeg_start.size()), std::nullopt);
}

TEST(ServerApi, RequestsParseIntoTheLibrarysRequest) {
  const RequestLimits limits;
  const auto parse = [&](const json& j) { return parse_segment_request(j.dump(), limits).request; };
  // The mode is the library's to decide (resolve_mode), as for `sam3rt segment`.
  EXPECT_EQ(resolve_mode(parse({{"text", "a"}})), "concept");
  EXPECT_EQ(resolve_mode(parse({{"points", arr({pt2(1, 2)})}})), "object");
  EXPECT_EQ(resolve_mode(parse({{"points", arr({pt2(1, 2)})}, {"boxes", arr({bx(1, 1, 5, 5)})}})), "object");
  const SegmentRequest r = parse({{"text", {"a", "b"}}, {"threshold", 0.25}, {"nms", 0.6}, {"max_instances", 5}});
  EXPECT_EQ(r.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_FLOAT_EQ(r.options.score_threshold, 0.25f);
  EXPECT_TRUE(r.options.nms);
  EXPECT_FLOAT_EQ(r.options.nms_iou, 0.6f);
  EXPECT_EQ(r.options.max_instances, 5);
  EXPECT_FALSE(r.multimask.has_value());  // unset: ImageSession::run applies SAM's rule
  const SegmentCall call = parse_segment_request(R"({"text": "a", "png": true, "timings": false})", limits);
  EXPECT_TRUE(call.json.mask_png);
  EXPECT_FALSE(call.json.overlay);
  EXPECT_FALSE(call.json.timings);
  const SegmentRequest p = parse({{"points", arr({pt(1.5, 2, 0), pt2(3, 4)})}, {"multimask", false}});
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_FLOAT_EQ(p.points[0].x, 1.5f);
  EXPECT_FALSE(p.points[0].positive);
  EXPECT_TRUE(p.points[1].positive);
  EXPECT_EQ(p.multimask, std::optional<bool>(false));
  EXPECT_THROW(resolve_mode(parse({{"mode", "object"}, {"text", "a"}})), Error);
  EXPECT_THROW(resolve_mode(parse({{"mode", "object"}, {"boxes", arr({bx(1, 1, 5, 5), bx(1, 1, 5, 5)})}})), Error);
  // A number beyond double's range is a malformed request, not a server failure.
  EXPECT_THROW(parse_segment_request(R"({"points": [{"x": 1e400, "y": -1, "label": 1}]})", limits), Error);
  // A finite double that is an infinite float, too.
  EXPECT_THROW(parse_segment_request(R"({"points": [{"x": 1e39, "y": 1, "label": 1}]})", limits), Error);
  EXPECT_NO_THROW(parse_segment_request(R"({"points": [{"x": 3e38, "y": 1, "label": 1}]})", limits));
  // A mask input larger than the limit is refused before its runs are decoded (its
  // runs could otherwise spell 10^10 pixels in a few bytes).
  RequestLimits small;
  small.max_mask_pixels = 20;
  EXPECT_NO_THROW(parse_segment_request(R"({"mask_input": {"size": [4, 5], "counts": "d0"}})", small));
  try {
    parse_segment_request(R"({"mask_input": {"size": [4, 6], "counts": "h0"}})", small);
    ADD_FAILURE() << "a 4x6 mask input passed a 20-pixel limit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 20 pixels"), std::string::npos) << e.what();
  }
}

// `sam3rt serve` as a process: prints its port, answers, and exits 0 on SIGTERM / SIGINT.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& model_dir) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> args = {SAM3RT_CLI_PATH, "serve", "--model", model_dir, "--port", "0", "--threads", "1"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, SAM3RT_CLI_PATH, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
  }
  ~ServeProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_) ::fclose(out_);
  }
  // The first stdout line: "... on http://127.0.0.1:PORT/ ...".
  int port() {
    char line[1024] = {0};
    if (!std::fgets(line, sizeof(line), out_)) return -1;
    std::cmatch m;
    if (!std::regex_search(line, m, std::regex(R"(http://127\.0\.0\.1:(\d+)/)"))) return -1;
    return std::stoi(m[1].str());
  }
  // Sends `sig` and waits up to 30 s; the exit status, or -1 on a hang or a signal death.
  int stop_with(int sig) {
    ::kill(pid_, sig);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  FILE* out_ = nullptr;
};

TEST(ServeCommand, AnswersAndStopsCleanlyOnSignals) {
  test_model();  // writes the checkpoint
  const std::string dir = checkpoint_dir().string();
  for (int sig : {SIGTERM, SIGINT}) {
    ServeProcess serve(dir);
    const int port = serve.port();
    ASSERT_GT(port, 0);
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    auto h = c.Get("/v1/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    auto up = c.Post("/v1/images", png_bytes(test_rgb(24, 24)), "image/png");
    ASSERT_TRUE(up);
    EXPECT_EQ(up->status, 200);
    EXPECT_EQ(serve.stop_with(sig), 0) << "signal " << sig;
    EXPECT_FALSE(c.Get("/v1/health"));
  }
}

// --- Faults: what a hostile or broken client does (issue #17) -------------------------

TEST(ServerApi, RequestHeadsThatAnnounceImpossibleBodies) {
  const auto status_of = [](const std::string& head) {
    const std::string answer = refuse_request_head(head, 1000);
    return answer.empty() ? 0 : std::stoi(answer.substr(9, 3));
  };
  EXPECT_EQ(status_of("POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"), 0);
  EXPECT_EQ(status_of("POST /v1/images HTTP/1.1\r\ncontent-length:  12 \r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"), 0);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"), 413);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 0);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 400);
  const std::string answer = refuse_request_head("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 1000);
  const size_t blank = answer.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos);
  const json body = json::parse(answer.substr(blank + 4));
  EXPECT_EQ(body["error"]["status"], 413);
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(answer.size() - blank - 4) + "\r\n"), std::string::npos);
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos);
}

// A raw TCP connection to 127.0.0.1:port, for what httplib::Client will not send.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Everything the server sends until it closes the connection or `ms` pass.
  std::string read_until_closed(int ms) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_by_peer_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed_by_peer() const { return closed_by_peer_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
  bool closed_by_peer_ = false;
};

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

ServerOptions fault_options() {
  ServerOptions o;
  o.port = 0;
  o.http_threads = 4;
  o.head_timeout_seconds = 2;
  o.keep_alive_seconds = 2;
  return o;
}

// 64 clients that send a request line and one header and then nothing, and 8 that drip
// a header a byte every 100 ms, hold no thread: a health check made after them is
// answered at once (the issue's starvation case: 32 threads then, 4 here), and each slow
// client gets 408 and a closed connection once the head timeout has passed.
TEST(ServerFaults, SlowClientsDoNotStarveOthers) {
  Server server(test_model(), fault_options());
  const int port = server.start();
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 64; ++i) {
    silent.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(silent.back()->connected());
    ASSERT_TRUE(silent.back()->send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
  }
  std::atomic<int> dripping_closed{0};
  std::atomic<int> dripping_408{0};
  std::vector<std::thread> drippers;
  const auto t_start = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    drippers.emplace_back([&, port] {
      RawClient c(port);
      const std::string head = "GET /v1/health HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
      for (char ch : head) {
        if (!c.send(std::string(1, ch))) break;
        const std::string got = c.read_until_closed(100);
        if (!got.empty() || c.closed_by_peer()) {
          dripping_408 += got.find("HTTP/1.1 408") == 0 ? 1 : 0;
          break;
        }
      }
      if (c.closed_by_peer() || c.read_until_closed(100).size() > 0 || c.closed_by_peer()) ++dripping_closed;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    const auto t0 = std::chrono::steady_clock::now();
    auto h = c.Get("/v1/health");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(h) << httplib::to_string(h.error());
    EXPECT_EQ(h->status, 200);
    EXPECT_LT(s, 1.0) << "a health check behind 72 slow clients took " << s << " s";
  }
  for (auto& t : drippers) t.join();
  const double drip_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  EXPECT_EQ(dripping_408.load(), 8);
  EXPECT_EQ(dripping_closed.load(), 8);
  EXPECT_LT(drip_s, 4.0) << "byte-a-time clients were held past the 2 s head timeout";
  for (auto& c : silent) {
    const std::string got = c->read_until_closed(4000);
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
    EXPECT_NE(got.find("\"request timeout\""), std::string::npos) << got;
    EXPECT_TRUE(c->closed_by_peer());
  }
}

// Every malformed number, type and structure in a segment body is a 4xx with a JSON error,
// never a 5xx; raw requests the HTTP layer refuses get a JSON 400 too.
TEST(ServerFaults, MalformedBodiesAndRequestsAreClientErrors) {
  Server server(test_model(), fault_options());
  const int port = server.start();
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60);
  auto up = c.Post("/v1/images", png_bytes(test_rgb(40, 60)), "image/png");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 200) << up->body;
  const std::string id = json::parse(up->body)["id"];
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::vector<std::string> bodies = {
      R"({"points":[{"x":1e400,"y":-1,"label":1}]})",  // the issue's overflow
      R"({"points":[{"x":-1e400,"y":1,"label":1}]})",
      R"({"points":[{"x":10,"y":1e39,"label":1}]})",   // finite double, not a float
      R"({"points":[{"x":99999999999999999999999999,"y":1,"label":1}]})",
      R"({"points":[{"x":"10","y":1,"label":1}]})",
      R"({"points":[{"x":null,"y":1,"label":1}]})",
      R"({"points":[{"x":10,"y":1,"label":7}]})",
      R"({"points":[{"x":10,"y":1,"label":1.5}]})",
      R"({"points":[{"x":10,"y":1,"label":-1e400}]})",
      R"({"points":[{"x":10,"y":1}], "extra": 1})",
      R"({"points":[[10]]})",
      R"({"points":{}})",
      R"({"points":[{"x":-5,"y":1,"label":1}]})",      // outside the image
      R"({"boxes":[[1,2,3]]})",
      R"({"boxes":[[1,2,3,1e400]]})",
      R"({"boxes":[[30,20,10,5]], "mode":"object"})",  // inverted
      R"({"boxes":"x"})",
      R"({"text":5})",
      R"({"text":["a",3]})",
      R"({"text":"cat","threshold":1e999})",
      R"({"text":"cat","threshold":-1})",
      R"({"text":"cat","threshold":"high"})",
      R"({"text":"cat","nms":2})",
      R"({"text":"cat","max_instances":-1})",
      R"({"text":"cat","max_instances":1e20})",
      R"({"text":"cat","max_instances":2.5})",
      R"({"text":"cat","mode":"weird"})",
      R"({"points":[{"x":10,"y":1,"label":1}],"multimask":"yes"})",
      R"({"mask_input":{"size":[1e10,5],"counts":"x"}})",
      R"({"mask_input":{"size":[-1,-1],"counts":""}})",
      R"({"mask_input":{"size":[40,60],"counts":"\u0001\u0002"}})",
      R"({"mask_input":{"size":[40,60],"counts":5}})",
      R"({"text":"\ud800"})",
      R"({"text":"cat")",
      "",
      "null",
      "[]",
      "{}",
      "\xff\xfe{",
      deep,
  };
  for (const std::string& body : bodies) {
    auto r = c.Post(("/v1/images/" + id + "/segment").c_str(), body, "application/json");
    ASSERT_TRUE(r) << "no answer to " << body.substr(0, 80);
    EXPECT_GE(r->status, 400) << body.substr(0, 80) << " -> " << r->body;
    EXPECT_LT(r->status, 500) << body.substr(0, 80) << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << body.substr(0, 80);
    EXPECT_TRUE(json::parse(r->body, nullptr, false).contains("error")) << body.substr(0, 80) << " -> " << r->body;
  }
  const std::vector<std::string> raw = {
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n\r\n",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "NONSENSE\r\n\r\n",
      "GET /v1/health HTTP/9.9 extra\r\n\r\n",
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
  };
  for (const std::string& request : raw) {
    RawClient r(port);
    ASSERT_TRUE(r.send(request));
    const std::string got = r.read_until_closed(3000);
    ASSERT_GE(got.size(), 12u) << "no answer to " << request;
    const int status = std::stoi(got.substr(9, 3));
    EXPECT_GE(status, 400) << request << " -> " << got;
    EXPECT_LT(status, 500) << request << " -> " << got;
  }
  auto h = c.Get("/v1/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

// Clients that hang up mid-upload, mid-answer or at once leave no descriptor behind, and
// the server goes on answering.
TEST(ServerFaults, DisconnectsLeaveNothingBehind) {
  Server server(test_model(), fault_options());
  const int port = server.start();
  {
    httplib::Client warm("127.0.0.1", port);
    ASSERT_TRUE(warm.Get("/v1/health"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const size_t before = open_descriptors();
  const std::string png = png_bytes(test_rgb(300, 400));
  for (int i = 0; i < 20; ++i) {
    {  // mid-upload: half the announced body, then gone
      RawClient r(port);
      ASSERT_TRUE(r.send("POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: " +
                         std::to_string(png.size()) + "\r\n\r\n" + png.substr(0, png.size() / 2)));
    }
    {  // mid-answer: asks for the page and leaves without reading it
      RawClient r(port);
      ASSERT_TRUE(r.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    {  // at once
      RawClient r(port);
    }
    {  // half a head
      RawClient r(port);
      ASSERT_TRUE(r.send("POST /v1/ima"));
    }
  }
  size_t after = 0;
  for (int i = 0; i < 100; ++i) {  // the server notices within its timeouts
    after = open_descriptors();
    if (after <= before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LE(after, before) << "descriptors left open after 80 dropped connections";
  httplib::Client c("127.0.0.1", port);
  auto h = c.Get("/v1/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto up = c.Post("/v1/images", png, "image/png");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200) << up->body;
}

// SIGTERM while a request is in flight (its body half sent): the request is finished and
// answered, the connection closed, and `sam3rt serve` exits 0.
TEST(ServeCommand, SigtermLetsTheRequestInFlightFinish) {
  test_model();  // writes the checkpoint
  ServeProcess serve(checkpoint_dir().string());
  const int port = serve.port();
  ASSERT_GT(port, 0);
  const std::string png = png_bytes(test_rgb(48, 64));
  RawClient r(port);
  ASSERT_TRUE(r.send("POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: " +
                     std::to_string(png.size()) + "\r\n\r\n" + png.substr(0, png.size() / 2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the head is in; the body is being read
  std::thread stopper([&] { EXPECT_EQ(serve.stop_with(SIGTERM), 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(r.send(png.substr(png.size() / 2)));
  const std::string got = r.read_until_closed(30000);
  stopper.join();
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("\"id\""), std::string::npos) << got;
  EXPECT_TRUE(r.closed_by_peer()) << "the connection stayed open after the stop";
}

}  // namespace
}  // namespace sam3rt::server
