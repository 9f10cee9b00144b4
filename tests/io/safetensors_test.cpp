// The safetensors reader and writer: round trips of every dtype (checked against an
// independent parse of the written bytes), zero-copy views into the mapping, every kind
// of corrupt file (each a sam3rt::Error naming the tensor and the problem), and the
// tensors of a real fixture checkpoint.
#include "testing/errors.h"
#include "io/safetensors.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_format.h"
#include "sam3rt/error.h"
#include "testing/fixture.h"

namespace sam3rt::io {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// u64 little-endian.
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file from header text and data bytes, built by hand (not by our writer).
std::string file_bytes(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

using testing::expect_error;

// The header of a written file, parsed independently of parse_safetensors_header.
struct RawHeader {
  uint64_t length = 0;
  Json json;
};

RawHeader raw_header(const std::vector<uint8_t>& bytes) {
  RawHeader h;
  EXPECT_GE(bytes.size(), 8u);
  for (int i = 7; i >= 0; --i) h.length = (h.length << 8) | bytes[i];
  EXPECT_LE(8 + h.length, bytes.size());
  h.json = Json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(h.length));
  return h;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("sam3rt_safetensors_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& leaf) const { return (dir_ / leaf).string(); }

  // Writes `bytes` to a file and expects opening it to fail with kCorruption and a
  // message containing every one of `needles` (and the file's path).
  void expect_corrupt(const std::string& leaf, const std::string& bytes, const std::vector<std::string>& needles) {
    const std::string p = path(leaf);
    write_bytes(p, bytes);
    const std::string msg = expect_error(ErrorCode::kCorruption, [&] { SafetensorsFile::open(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << "message does not name the file: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }

  fs::path dir_;
};

// One tensor of each dtype the format holds here, with values that survive exactly.
std::vector<std::pair<std::string, at::Tensor>> every_dtype() {
  const auto f = at::arange(-6, 6, at::kFloat).mul(0.5).reshape({3, 4});  // -3.0 .. 2.5
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("f32", f.add(0.125));
  out.emplace_back("f16", f.to(at::kHalf));
  out.emplace_back("bf16", f.to(at::kBFloat16).reshape({2, 6}));
  // Beyond 32 bits, and negative.
  out.emplace_back("i64", at::arange(-2, 3, at::kLong).mul(int64_t{1} << 40));
  out.emplace_back("i32", at::arange(-5, 5, at::kInt).mul(100000).reshape({2, 5, 1}));
  out.emplace_back("bool", at::arange(0, 7, at::kLong).remainder(3).eq(0));
  out.emplace_back("u8", at::arange(0, 256, 17, at::kLong).to(at::kByte));
  out.emplace_back("scalar", at::scalar_tensor(3.25, at::kFloat));  // 0-d
  out.emplace_back("empty", at::zeros({0, 5}, at::kFloat));
  return out;
}

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  const auto tensors = every_dtype();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "round trip"}};
  const std::string p = path("all.safetensors");
  write_safetensors(p, tensors, metadata);

  // The bytes, read independently: packed in order, the data section 8-aligned, the
  // JSON as the format defines it.
  const auto bytes = read_bytes(p);
  const RawHeader raw = raw_header(bytes);
  EXPECT_EQ((8 + raw.length) % 8, 0u);
  EXPECT_EQ(raw.json.at("__metadata__"), Json(metadata));
  const std::map<std::string, std::string> names = {{"f32", "F32"}, {"f16", "F16"}, {"bf16", "BF16"},
                                                    {"i64", "I64"}, {"i32", "I32"}, {"bool", "BOOL"},
                                                    {"u8", "U8"},   {"scalar", "F32"}, {"empty", "F32"}};
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const Json& e = raw.json.at(name);
    EXPECT_EQ(e.at("dtype"), names.at(name)) << name;
    EXPECT_EQ(e.at("shape").get<std::vector<int64_t>>(), t.sizes().vec()) << name;
    const uint64_t nbytes = t.numel() * t.element_size();
    EXPECT_EQ(e.at("data_offsets"), Json({offset, offset + nbytes})) << name;
    if (nbytes) {
      EXPECT_EQ(std::memcmp(bytes.data() + 8 + raw.length + offset, t.contiguous().data_ptr(), nbytes), 0) << name;
    }
    offset += nbytes;
  }
  EXPECT_EQ(bytes.size(), 8 + raw.length + offset);

  auto file = SafetensorsFile::open(p);
  EXPECT_EQ(file->path(), p);
  EXPECT_EQ(file->metadata(), metadata);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const TensorInfo* info = file->find(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(to_scalar_type(info->dtype), t.scalar_type());
    EXPECT_EQ(info->shape, t.sizes().vec());
    EXPECT_EQ(info->numel(), t.numel());
    const at::Tensor back = file->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type());
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(at::equal(back, t));
  }
  const at::Tensor scalar = file->tensor("scalar");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<float>(), 3.25f);
  EXPECT_EQ(file->tensor("empty").numel(), 0);
  EXPECT_EQ(file->tensor("i64")[0].item<int64_t>(), -(int64_t{2} << 40));
}

TEST_F(SafetensorsTest, TensorsAreSortedByNameAndFoundByName) {
  const std::string p = path("order.safetensors");
  write_safetensors(p, {{"zeta", at::zeros({2})}, {"alpha", at::zeros({3})}, {"mid", at::zeros({1})}});
  auto file = SafetensorsFile::open(p);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "alpha");
  EXPECT_EQ(file->tensors()[1].name, "mid");
  EXPECT_EQ(file->tensors()[2].name, "zeta");
  EXPECT_EQ(file->find("nope"), nullptr);
  EXPECT_EQ(file->find("alph"), nullptr);
  // Stored in the order given: zeta first.
  EXPECT_EQ(file->find("zeta")->begin, 0u);
  const std::string msg = expect_error(ErrorCode::kNotFound, [&] { file->tensor("nope"); });
  EXPECT_NE(msg.find("'nope'"), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, WritesNonContiguousTensorsAsTheirValues) {
  const at::Tensor t = at::arange(0, 12, at::kFloat).reshape({3, 4}).t();  // [4, 3], strided
  ASSERT_FALSE(t.is_contiguous());
  const std::string p = path("strided.safetensors");
  write_safetensors(p, {{"t", t}});
  const at::Tensor back = SafetensorsFile::open(p)->tensor("t");
  EXPECT_EQ(back.sizes(), t.sizes());
  EXPECT_TRUE(at::equal(back, t));
}

TEST_F(SafetensorsTest, EmptyFileHasNoTensors) {
  const std::string p = path("none.safetensors");
  write_safetensors(p, {});
  auto file = SafetensorsFile::open(p);
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_TRUE(file->metadata().empty());
}

TEST_F(SafetensorsTest, WriterRejectsUnsupportedTypes) {
  const std::string msg = expect_error(ErrorCode::kUnsupported, [&] {
    write_safetensors(path("f64.safetensors"), {{"d", at::zeros({2}, at::kDouble)}});
  });
  EXPECT_NE(msg.find("Double"), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, WriterReportsUnwritablePath) {
  const std::string p = path("no_such_dir/x.safetensors");
  const std::string msg = expect_error(ErrorCode::kIo, [&] { write_safetensors(p, {{"a", at::zeros({1})}}); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
}

// Address ranges of the mappings of `file` in this process (from /proc/self/maps).
std::vector<std::pair<uintptr_t, uintptr_t>> mappings_of(const std::string& file) {
  const std::string target = fs::canonical(file).string();
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, pathname;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, pathname);
    if (pathname != target) continue;
    const auto dash = range.find('-');
    out.emplace_back(std::stoull(range.substr(0, dash), nullptr, 16), std::stoull(range.substr(dash + 1), nullptr, 16));
  }
  return out;
}

TEST_F(SafetensorsTest, TensorsAreZeroCopyViewsOfTheMapping) {
  const std::string p = path("zc.safetensors");
  write_safetensors(p, {{"a", at::arange(0, 10, at::kFloat)}, {"b", at::arange(0, 6, at::kLong)}});
  auto file = SafetensorsFile::open(p);
  const at::Tensor a1 = file->tensor("a"), a2 = file->tensor("a"), b = file->tensor("b");
  // Two reads share the data; tensors sit at their offsets from each other.
  EXPECT_EQ(a1.data_ptr(), a2.data_ptr());
  EXPECT_EQ(static_cast<const char*>(b.data_ptr()) - static_cast<const char*>(a1.data_ptr()),
            static_cast<std::ptrdiff_t>(file->find("b")->begin - file->find("a")->begin));
  // And the data lies inside this file's mapping.
  const auto maps = mappings_of(p);
  ASSERT_FALSE(maps.empty()) << "no mapping of " << p;
  for (const at::Tensor& t : {a1, b}) {
    const auto addr = reinterpret_cast<uintptr_t>(t.data_ptr());
    bool inside = false;
    for (const auto& [lo, hi] : maps) inside |= addr >= lo && addr + t.numel() * t.element_size() <= hi;
    EXPECT_TRUE(inside) << "tensor data at " << t.data_ptr() << " is not in the file's mapping";
  }
}

TEST_F(SafetensorsTest, TensorsKeepTheMappingAlive) {
  const std::string p = path("alive.safetensors");
  write_safetensors(p, {{"a", at::arange(0, 1000, at::kFloat)}});
  at::Tensor a;
  {
    auto file = SafetensorsFile::open(p);
    a = file->tensor("a");
  }
  ASSERT_FALSE(mappings_of(p).empty()) << "the mapping went away while a tensor still uses it";
  EXPECT_TRUE(at::equal(a, at::arange(0, 1000, at::kFloat)));
  a = at::Tensor();
  EXPECT_TRUE(mappings_of(p).empty()) << "the mapping outlives every tensor and the file";
}

TEST_F(SafetensorsTest, MisalignedTensorsAreCopiedWithTheRightValues) {
  // A U8 tensor of 1 byte, then F32 [2] at data offset 1: legal, but not 4-aligned.
  std::string header = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  while ((8 + header.size()) % 8) header.push_back(' ');
  const float values[2] = {1.5f, -2.25f};
  std::string data(1, '\x07');
  data.append(reinterpret_cast<const char*>(values), sizeof(values));
  const std::string p = path("misaligned.safetensors");
  write_bytes(p, file_bytes(header, data));
  auto file = SafetensorsFile::open(p);
  const at::Tensor f = file->tensor("f");
  EXPECT_EQ(f.scalar_type(), at::kFloat);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data_ptr()) % alignof(float), 0u);
  EXPECT_EQ(f[0].item<float>(), 1.5f);
  EXPECT_EQ(f[1].item<float>(), -2.25f);
  EXPECT_EQ(file->tensor("u").item<uint8_t>(), 7);
}

// --- corrupt files ---------------------------------------------------------------------

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  const std::string p = path("absent.safetensors");
  const std::string msg = expect_error(ErrorCode::kNotFound, [&] { SafetensorsFile::open(p); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, DirectoryIsAnIoError) {
  expect_error(ErrorCode::kIo, [&] { SafetensorsFile::open(dir_.string()); });
}

TEST_F(SafetensorsTest, FileShorterThanEightBytes) {
  expect_corrupt("empty.safetensors", "", {"not a safetensors file", "0 bytes"});
  expect_corrupt("short.safetensors", std::string("\x02\x00\x00", 3), {"not a safetensors file", "3 bytes"});
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  expect_corrupt("past_end.safetensors", le64(64) + "{}", {"header length 64", "past the end of the file", "10 bytes"});
}

TEST_F(SafetensorsTest, HugeHeaderLength) {
  expect_corrupt("huge.safetensors", le64(~uint64_t{0}) + "{}", {"header length 18446744073709551615", "implausibly large"});
  expect_corrupt("huge2.safetensors", le64(uint64_t{1} << 40) + "{}", {"implausibly large"});
}

TEST_F(SafetensorsTest, TruncatedDataSection) {
  // The header promises 16 bytes of data; only 12 are there.
  const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  expect_corrupt("truncated.safetensors", file_bytes(header, std::string(12, '\0')),
                 {"tensor 'w'", "[0, 16]", "run past the data section (12 bytes)", "truncated"});
  // A real file cut short: every tensor after the cut is reported, starting with one.
  const std::string p = path("whole.safetensors");
  write_safetensors(p, {{"first", at::zeros({4})}, {"second", at::zeros({4})}});
  auto bytes = read_bytes(p);
  bytes.resize(bytes.size() - 1);
  expect_corrupt("cut.safetensors", std::string(bytes.begin(), bytes.end()), {"tensor 'second'", "run past the data section"});
}

TEST_F(SafetensorsTest, InvalidJson) {
  expect_corrupt("bad_json.safetensors", file_bytes(R"({"w":{"dtype":"F32",)"), {"not valid JSON"});
  expect_corrupt("bad_utf8.safetensors", file_bytes("{\"\xff\xfe\":1}"), {"not valid JSON"});
}

TEST_F(SafetensorsTest, JsonNotAnObject) {
  expect_corrupt("array.safetensors", file_bytes("[1, 2]"), {"not a JSON object"});
  expect_corrupt("string.safetensors", file_bytes(R"("w")"), {"not a JSON object"});
  expect_corrupt("entry.safetensors", file_bytes(R"({"w": [1, 2]})"), {"tensor 'w'", "entry is not an object"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string header = R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})";
  expect_corrupt("f64.safetensors", file_bytes(header, std::string(8, '\0')),
                 {"tensor 'w'", "unsupported dtype 'F64'"});
  expect_corrupt("no_dtype.safetensors", file_bytes(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                 {"tensor 'w'", "dtype"});
  expect_corrupt("int_dtype.safetensors",
                 file_bytes(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                 {"tensor 'w'", "non-string dtype"});
}

TEST_F(SafetensorsTest, ShapeEntryNegativeOrNotAnInteger) {
  for (const std::string shape : {"[-1]", "[2, -3]", "[1.5]", "[2.0]", "[\"4\"]", "[null]", "[[1]]"}) {
    SCOPED_TRACE(shape);
    const std::string header = R"({"w":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,4]}})";
    expect_corrupt("shape.safetensors", file_bytes(header, std::string(4, '\0')),
                   {"tensor 'w'", "shape entries must be non-negative integers"});
  }
  expect_corrupt("shape_obj.safetensors", file_bytes(R"({"w":{"dtype":"U8","shape":4,"data_offsets":[0,4]}})", "abcd"),
                 {"tensor 'w'", "non-array shape"});
  expect_corrupt("shape_big.safetensors",
                 file_bytes(R"({"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,4]}})", "abcd"),
                 {"tensor 'w'", "dimension 9223372036854775808 is too large"});
  expect_corrupt("rank.safetensors",
                 file_bytes(R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", "a"),
                 {"tensor 'w'", "17 dimensions"});
}

TEST_F(SafetensorsTest, ShapeTimesDtypeSizeMustMatchByteRange) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2, 3],"data_offsets":[0,20]}})";
  expect_corrupt("size.safetensors", file_bytes(header, std::string(24, '\0')),
                 {"tensor 'w'", "shape [2, 3] x F32 is 24 bytes but data_offsets span 20"});
  // A shape whose element count overflows.
  const std::string big = R"({"w":{"dtype":"I64","shape":[4294967296, 4294967296, 4],"data_offsets":[0,8]}})";
  expect_corrupt("overflow.safetensors", file_bytes(big, std::string(8, '\0')), {"tensor 'w'", "overflows"});
  // Even for an empty tensor the non-zero dimensions must multiply within int64
  // (TensorInfo::numel() and ATen would overflow).
  const std::string empty = R"({"w":{"dtype":"U8","shape":[4611686018427387904, 4611686018427387904, 0],"data_offsets":[0,0]}})";
  expect_corrupt("empty_overflow.safetensors", file_bytes(empty), {"tensor 'w'", "overflows"});
}

TEST_F(SafetensorsTest, DataOffsetsMalformed) {
  for (const std::string offsets : {"[0]", "[0, 4, 8]", "4", "{\"a\": 0, \"b\": 4}"}) {
    SCOPED_TRACE(offsets);
    const std::string header = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":)" + offsets + "}}";
    expect_corrupt("offsets.safetensors", file_bytes(header, "abcdefgh"), {"tensor 'w'", "array of two integers"});
  }
  for (const std::string offsets : {"[-4, 0]", "[0, 4.0]", "[0, \"4\"]"}) {
    SCOPED_TRACE(offsets);
    const std::string header = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":)" + offsets + "}}";
    expect_corrupt("offsets.safetensors", file_bytes(header, "abcdefgh"), {"tensor 'w'", "non-negative integers"});
  }
}

TEST_F(SafetensorsTest, ReversedOffsets) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})";
  expect_corrupt("reversed.safetensors", file_bytes(header, std::string(8, '\0')),
                 {"tensor 'w'", "data_offsets [8, 4] are reversed"});
}

TEST_F(SafetensorsTest, OverlappingRanges) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_corrupt("overlap.safetensors", file_bytes(header, std::string(12, '\0')),
                 {"tensors 'a' and 'b' overlap"});
  // Identical ranges overlap too; empty tensors occupy nothing and never do.
  const std::string same = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  expect_corrupt("same.safetensors", file_bytes(same, std::string(4, '\0')), {"overlap"});
  const std::string p = path("empty_inside.safetensors");
  write_bytes(p, file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                            std::string(8, '\0')));
  EXPECT_EQ(SafetensorsFile::open(p)->tensors().size(), 2u);
}

TEST_F(SafetensorsTest, MetadataMustBeAnObjectOfStrings) {
  expect_corrupt("meta_array.safetensors", file_bytes(R"({"__metadata__":["pt"]})"), {"__metadata__ is not an object"});
  expect_corrupt("meta_int.safetensors", file_bytes(R"({"__metadata__":{"format":"pt","version":2}})"),
                 {"__metadata__ entry 'version' is not a string"});
  expect_corrupt("meta_nested.safetensors", file_bytes(R"({"__metadata__":{"x":{"y":"z"}}})"),
                 {"__metadata__ entry 'x' is not a string"});
}

TEST_F(SafetensorsTest, DeeplyNestedHeaderIsRejectedNotACrash) {
  const std::string deep = R"({"w":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_corrupt("deep.safetensors", file_bytes(deep), {"tensor 'w'", "entry is not an object"});
}

// parse_safetensors_header on its own: the header may be all the caller has read.
TEST(SafetensorsFormatTest, ParsesAHeaderWithoutItsData) {
  const std::string header = R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"__metadata__":{"k":"v"}})";
  const std::string bytes = file_bytes(header);
  const auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                          bytes.size() + 6, "mem");
  EXPECT_EQ(h.data_offset, 8 + header.size());
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].name, "w");
  EXPECT_EQ(h.tensors[0].dtype, DType::kBF16);
  EXPECT_EQ(h.tensors[0].shape, std::vector<int64_t>{3});
  EXPECT_EQ(h.tensors[0].begin, 0u);
  EXPECT_EQ(h.tensors[0].end, 6u);
  EXPECT_EQ(h.metadata.at("k"), "v");
  // Fewer bytes than the header: incomplete, not a crash.
  const std::string msg = expect_error(ErrorCode::kCorruption, [&] {
    parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 1, bytes.size() + 6, "mem");
  });
  EXPECT_NE(msg.find("mem: safetensors header is incomplete"), std::string::npos) << msg;
}

TEST(SafetensorsFormatTest, DtypeNamesAndSizes) {
  const std::vector<std::tuple<DType, const char*, size_t>> all = {
      {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8},
      {DType::kI32, "I32", 4}, {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1}};
  for (const auto& [d, name, size] : all) {
    EXPECT_STREQ(dtype_name(d), name);
    EXPECT_EQ(dtype_size(d), size);
    EXPECT_EQ(parse_dtype(name), d);
    EXPECT_EQ(from_scalar_type(to_scalar_type(d)), d);
  }
  EXPECT_FALSE(parse_dtype("f32").has_value());
  EXPECT_FALSE(parse_dtype("F64").has_value());
  EXPECT_FALSE(parse_dtype("").has_value());
}

TEST(SafetensorsFormatTest, SerialisedHeaderParsesBack) {
  std::vector<TensorInfo> infos(2);
  infos[0] = {"b", DType::kI64, {2, 2}, 0, 32};
  infos[1] = {"a", DType::kBool, {}, 32, 33};
  const std::string bytes = serialize_safetensors_header(infos, {{"format", "pt"}});
  EXPECT_EQ(bytes.size() % 8, 0u);
  const auto h = parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                          bytes.size() + 33, "mem");
  EXPECT_EQ(h.data_offset, bytes.size());
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");  // sorted by name
  EXPECT_EQ(h.tensors[0].dtype, DType::kBool);
  EXPECT_TRUE(h.tensors[0].shape.empty());
  EXPECT_EQ(h.tensors[0].numel(), 1);
  EXPECT_EQ(h.tensors[1].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(h.tensors[1].begin, 0u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
}

// --- a real checkpoint -----------------------------------------------------------------

TEST(SafetensorsFixtureTest, EveryTensorOfTheTinyCheckpointLoadsWithItsHeaderShape) {
  const std::string p = sam3rt::testing::data_path("sam3-tiny-seed0/sam3_image/model.safetensors");
  const auto bytes = read_bytes(p);
  const RawHeader raw = raw_header(bytes);
  auto file = SafetensorsFile::open(p);

  size_t count = 0;
  for (auto it = raw.json.begin(); it != raw.json.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    ++count;
    SCOPED_TRACE(it.key());
    const auto shape = it.value().at("shape").get<std::vector<int64_t>>();
    const auto offsets = it.value().at("data_offsets").get<std::vector<uint64_t>>();
    const TensorInfo* info = file->find(it.key());
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(dtype_name(info->dtype), it.value().at("dtype").get<std::string>());
    const at::Tensor t = file->tensor(it.key());
    EXPECT_EQ(t.sizes().vec(), shape);
    EXPECT_EQ(t.scalar_type(), to_scalar_type(info->dtype));
    // The view holds exactly the bytes the header points at.
    ASSERT_EQ(static_cast<uint64_t>(t.numel() * t.element_size()), offsets[1] - offsets[0]);
    EXPECT_EQ(std::memcmp(t.data_ptr(), bytes.data() + 8 + raw.length + offsets[0], offsets[1] - offsets[0]), 0);
  }
  EXPECT_EQ(file->tensors().size(), count);
  EXPECT_GT(count, 300u);
  // A known tensor: the ViT patch embedding, [width, 3, 14, 14] for the tiny config.
  const TensorInfo* patch = file->find("detector_model.vision_encoder.backbone.embeddings.patch_embeddings.projection.weight");
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->shape, (std::vector<int64_t>{32, 3, 14, 14}));
}

}  // namespace
}  // namespace sam3rt::io
