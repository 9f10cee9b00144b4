// Image decoding and PNG encoding against images whose pixels we know: the synthetic
// patterns of tests/data/images/make_images.py (keep the two in sync), one real photo,
// and broken inputs (missing, not an image, every truncation, bit flips, zero size).
#include "testing/errors.h"
#include "io/image.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sam3rt/error.h"

namespace sam3rt::io {
namespace {

const std::string kImages = std::string(SAM3RT_TEST_DATA) + "/images";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string temp_path(const std::string& leaf) {
  return ::testing::TempDir() + "sam3rt_image_test_" + std::to_string(::getpid()) + "_" + leaf;
}

void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

at::Tensor decode(const std::vector<uint8_t>& bytes, const std::string& name = "test") {
  return decode_image_bytes(bytes.data(), bytes.size(), name);
}

using testing::expect_error;

// The block colours of make_images.py (BLOCK_COLOURS).
constexpr std::array<std::array<int, 3>, 6> kBlockColours{{
    {230, 30, 30}, {30, 200, 40}, {40, 60, 220}, {240, 220, 40}, {30, 200, 210}, {250, 250, 250}}};

// make_images.py block_pattern: blocks_x x blocks_y flat 16x16 blocks. [H, W, 3] uint8.
at::Tensor block_pattern(int blocks_x, int blocks_y) {
  at::Tensor image = at::empty({blocks_y * 16, blocks_x * 16, 3}, at::kByte);
  auto acc = image.accessor<uint8_t, 3>();
  for (int y = 0; y < blocks_y * 16; ++y) {
    for (int x = 0; x < blocks_x * 16; ++x) {
      const auto& colour = kBlockColours[((y / 16) * blocks_x + x / 16) % 6];
      for (int c = 0; c < 3; ++c) acc[y][x][c] = static_cast<uint8_t>(colour[c]);
    }
  }
  return image;
}

int max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1 << 20;
  return a.to(at::kInt).sub(b.to(at::kInt)).abs().max().item<int>();
}

void expect_rgb_image(const at::Tensor& image, int64_t height, int64_t width) {
  EXPECT_EQ(image.scalar_type(), at::kByte);
  EXPECT_TRUE(image.is_contiguous());
  EXPECT_TRUE(image.device().is_cpu());
  EXPECT_EQ(image.sizes(), (at::IntArrayRef{height, width, 3}));
}

// JPEG decoders differ by a few levels (libjpeg-turbo in OpenCV, stb's own IDCT); flat
// 16x16 blocks at quality 95 with 4:4:4 stay well inside this.
constexpr int kJpegTolerance = 8;

// ---- PNG variants ----------------------------------------------------------------

TEST(DecodeImage, PalettePngWithTransparencyGivesExactPaletteColours) {
  at::Tensor image = decode_image(kImages + "/palette.png");
  expect_rgb_image(image, 8, 16);
  const int palette[4][3] = {{255, 0, 0}, {0, 128, 255}, {12, 34, 56}, {200, 100, 50}};
  auto acc = image.accessor<uint8_t, 3>();
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      const int index = (x / 4 + y / 4) % 4;  // entry 3 is transparent: RGB still returned
      for (int c = 0; c < 3; ++c) ASSERT_EQ(acc[y][x][c], palette[index][c]) << y << "," << x;
    }
  }
}

TEST(DecodeImage, RgbaPngDropsAlphaWithoutCompositing) {
  at::Tensor image = decode_image(kImages + "/rgba.png");
  expect_rgb_image(image, 8, 8);
  auto acc = image.accessor<uint8_t, 3>();
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      ASSERT_EQ(acc[y][x][0], x * 32) << y << "," << x;
      ASSERT_EQ(acc[y][x][1], y * 32) << y << "," << x;
      ASSERT_EQ(acc[y][x][2], 100) << y << "," << x;  // also where alpha is 0
    }
  }
}

TEST(DecodeImage, GrayPngIsReplicatedToRgb) {
  at::Tensor image = decode_image(kImages + "/gray.png");
  expect_rgb_image(image, 4, 16);
  auto acc = image.accessor<uint8_t, 3>();
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 16; ++x) {
      for (int c = 0; c < 3; ++c) ASSERT_EQ(acc[y][x][c], x * 16 + y * 3) << y << "," << x;
    }
  }
}

TEST(DecodeImage, SixteenBitPngKeepsTheHighByte) {
  const std::vector<int> samples = {0x0000, 0x00FF, 0x12FF, 0x8080, 0xABCD, 0xFFFF,
                                    0x7FFF, 0x05A0, 0xFE80, 0x4000, 0x30E0, 0xC0FF,
                                    0x0101, 0x1234, 0x5678, 0x9ABC, 0xDEF0, 0xFF7F};
  // The data must tell the two conversions apart.
  int differing = 0;
  for (int v : samples) differing += (v >> 8) != (v + 128) / 257;
  ASSERT_GE(differing, 3);

  at::Tensor image = decode_image(kImages + "/rgb16.png");
  expect_rgb_image(image, 2, 3);
  auto acc = image.accessor<uint8_t, 3>();
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(acc[y][x][c], samples[(y * 3 + x) * 3 + c] >> 8) << y << "," << x << "," << c;
      }
    }
  }
}

// ---- JPEG --------------------------------------------------------------------------

bool has_marker_before_scan(const std::vector<uint8_t>& jpeg, uint8_t marker) {
  for (size_t i = 2; i + 3 < jpeg.size();) {
    if (jpeg[i] != 0xFF) return false;
    if (jpeg[i + 1] == marker) return true;
    if (jpeg[i + 1] == 0xDA) return false;
    i += 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
  }
  return false;
}

TEST(DecodeImage, ProgressiveJpeg) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/progressive.jpg");
  ASSERT_TRUE(has_marker_before_scan(bytes, 0xC2)) << "test image is not progressive";
  at::Tensor image = decode_image(kImages + "/progressive.jpg");
  expect_rgb_image(image, 48, 64);
  EXPECT_LE(max_abs_diff(image, block_pattern(4, 3)), kJpegTolerance);
}

// Offset of the EXIF TIFF header (after "Exif\0\0") in a JPEG.
size_t exif_tiff_offset(const std::vector<uint8_t>& jpeg) {
  static const char kExif[] = "Exif\0\0";
  auto it = std::search(jpeg.begin(), jpeg.end(), kExif, kExif + 6);
  EXPECT_NE(it, jpeg.end());
  return static_cast<size_t>(it - jpeg.begin()) + 6;
}

// A copy of exif_rotate90.jpg whose TIFF block (26 bytes: header, one IFD0 entry, no next
// IFD) is rewritten with the given byte order and orientation.
std::vector<uint8_t> with_orientation(const std::vector<uint8_t>& jpeg, int orientation,
                                      bool little_endian) {
  std::vector<uint8_t> out = jpeg;
  const size_t tiff = exif_tiff_offset(out);
  const uint8_t o = static_cast<uint8_t>(orientation);
  const std::vector<uint8_t> block =
      little_endian
          ? std::vector<uint8_t>{'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                                 o, 0, 0, 0, 0, 0, 0, 0}
          : std::vector<uint8_t>{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                                 0, o, 0, 0, 0, 0, 0, 0};
  EXPECT_LE(tiff + block.size(), out.size());
  std::copy(block.begin(), block.end(), out.begin() + static_cast<std::ptrdiff_t>(tiff));
  return out;
}

TEST(DecodeImage, JpegExifOrientation6IsRotatedClockwise) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/exif_rotate90.jpg");
  EXPECT_EQ(jpeg_exif_orientation(bytes.data(), bytes.size()), 6);
  at::Tensor image = decode_image(kImages + "/exif_rotate90.jpg");
  // Stored 48 wide x 32 high; shown 32 wide x 48 high.
  expect_rgb_image(image, 48, 32);
  // Rotating the stored pattern 90 degrees clockwise: shown[r][c] = stored[H-1-c][r].
  at::Tensor stored = block_pattern(3, 2);  // [32, 48, 3]
  at::Tensor expected = stored.transpose(0, 1).flip({1}).contiguous();
  EXPECT_LE(max_abs_diff(image, expected), kJpegTolerance);
  // Shown top-left is the stored bottom-left block (colour 3), top-right the stored
  // top-left block (colour 0).
  auto acc = image.accessor<uint8_t, 3>();
  EXPECT_NEAR(acc[0][0][0], kBlockColours[3][0], kJpegTolerance);
  EXPECT_NEAR(acc[0][31][1], kBlockColours[0][1], kJpegTolerance);
}

TEST(DecodeImage, JpegEveryExifOrientationBothByteOrders) {
  const std::vector<uint8_t> original = read_bytes(kImages + "/exif_rotate90.jpg");
  const at::Tensor upright = decode(with_orientation(original, 1, false));
  expect_rgb_image(upright, 32, 48);
  EXPECT_LE(max_abs_diff(upright, block_pattern(3, 2)), kJpegTolerance);
  for (bool little : {false, true}) {
    for (int orientation = 1; orientation <= 8; ++orientation) {
      const std::vector<uint8_t> bytes = with_orientation(original, orientation, little);
      ASSERT_EQ(jpeg_exif_orientation(bytes.data(), bytes.size()), orientation);
      const at::Tensor image = decode(bytes);
      const at::Tensor expected = apply_exif_orientation(upright, orientation);
      EXPECT_TRUE(image.equal(expected)) << "orientation " << orientation << " little " << little;
    }
    // Out-of-range values are ignored.
    EXPECT_TRUE(decode(with_orientation(original, 9, little)).equal(upright));
    EXPECT_TRUE(decode(with_orientation(original, 0, little)).equal(upright));
  }
}

TEST(ApplyExifOrientation, AllEightOnASmallGrid) {
  // [[1, 2, 3], [4, 5, 6]] as a [2, 3, 1] image.
  at::Tensor grid = at::empty({2, 3, 1}, at::kByte);
  for (int i = 0; i < 6; ++i) grid.view({-1})[i].fill_(i + 1);
  auto rows = [](const at::Tensor& t) {
    std::vector<std::vector<int>> out(t.size(0));
    for (int64_t r = 0; r < t.size(0); ++r) {
      for (int64_t c = 0; c < t.size(1); ++c) out[r].push_back(t[r][c][0].item<int>());
    }
    return out;
  };
  using Rows = std::vector<std::vector<int>>;
  EXPECT_EQ(rows(apply_exif_orientation(grid, 1)), (Rows{{1, 2, 3}, {4, 5, 6}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 2)), (Rows{{3, 2, 1}, {6, 5, 4}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 3)), (Rows{{6, 5, 4}, {3, 2, 1}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 4)), (Rows{{4, 5, 6}, {1, 2, 3}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 5)), (Rows{{1, 4}, {2, 5}, {3, 6}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 6)), (Rows{{4, 1}, {5, 2}, {6, 3}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 7)), (Rows{{6, 3}, {5, 2}, {4, 1}}));
  EXPECT_EQ(rows(apply_exif_orientation(grid, 8)), (Rows{{3, 6}, {2, 5}, {1, 4}}));
  EXPECT_TRUE(apply_exif_orientation(grid.transpose(0, 1), 1).is_contiguous());
}

TEST(DecodeImage, RealPhotoSizeAndColour) {
  at::Tensor image = decode_image(kImages + "/oven.jpg");
  expect_rgb_image(image, 500, 332);
  // Per-channel means from Pillow (libjpeg-turbo): 125.687, 118.405, 97.607.
  at::Tensor mean = image.to(at::kDouble).mean(at::IntArrayRef{0, 1});
  EXPECT_NEAR(mean[0].item<double>(), 125.687, 0.5);
  EXPECT_NEAR(mean[1].item<double>(), 118.405, 0.5);
  EXPECT_NEAR(mean[2].item<double>(), 97.607, 0.5);
}

// ---- Errors ------------------------------------------------------------------------

TEST(DecodeImageErrors, MissingFileIsNotFoundNamingThePath) {
  const std::string path = kImages + "/no_such_image.png";
  const std::string message = expect_error(ErrorCode::kNotFound, [&] { decode_image(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  expect_error(ErrorCode::kNotFound, [&] { decode_image(kImages + "/no_dir/x.jpg"); });
}

TEST(DecodeImageErrors, DirectoryIsAnIoError) {
  const std::string message = expect_error(ErrorCode::kIo, [&] { decode_image(kImages); });
  EXPECT_NE(message.find(kImages), std::string::npos) << message;
}

TEST(DecodeImageErrors, TextFileIsCorruption) {
  const std::string path = kImages + "/not_an_image.png";
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode_image(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

TEST(DecodeImageErrors, EmptyFileIsCorruption) {
  const std::string path = temp_path("empty.jpg");
  write_bytes(path, nullptr, 0);
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode_image(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  std::remove(path.c_str());
  expect_error(ErrorCode::kCorruption, [] { decode_image_bytes(nullptr, 0, "nothing"); });
}

TEST(DecodeImageErrors, ZeroSizeImagesAreCorruption) {
  const std::string message =
      expect_error(ErrorCode::kCorruption, [] { decode_image(kImages + "/zero_width.png"); });
  EXPECT_NE(message.find("zero-size"), std::string::npos) << message;
  // A JPEG whose frame header says height 0.
  std::vector<uint8_t> jpeg = read_bytes(kImages + "/exif_rotate90.jpg");
  bool patched = false;
  for (size_t i = 2; i + 8 < jpeg.size();) {
    ASSERT_EQ(jpeg[i], 0xFF);
    const uint8_t marker = jpeg[i + 1];
    if (marker == 0xC0) {
      jpeg[i + 5] = 0;  // height, big-endian, after length (2) and precision (1)
      jpeg[i + 6] = 0;
      patched = true;
      break;
    }
    i += 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
  }
  ASSERT_TRUE(patched);
  const std::string jpeg_message =
      expect_error(ErrorCode::kCorruption, [&] { decode(jpeg, "zero.jpg"); });
  EXPECT_NE(jpeg_message.find("zero.jpg"), std::string::npos) << jpeg_message;
}

TEST(DecodeImageErrors, OversizedHeaderIsUnsupportedWithoutAllocating) {
  const std::string message =
      expect_error(ErrorCode::kUnsupported, [] { decode_image(kImages + "/huge_header.png"); });
  EXPECT_NE(message.find("huge_header.png"), std::string::npos) << message;
}

// A caller's pixel limit is checked from the header: a 16x16 image against 100 pixels.
TEST(DecodeImageErrors, CallersPixelLimitRefusesFromTheHeader) {
  const std::vector<uint8_t> png = read_bytes(kImages + "/palette.png");
  const at::Tensor full = ::sam3rt::decode_image(png.data(), png.size(), "palette.png");
  const int64_t pixels = full.size(0) * full.size(1);
  EXPECT_NO_THROW(::sam3rt::decode_image(png.data(), png.size(), "palette.png", pixels));
  const std::string message = expect_error(ErrorCode::kUnsupported, [&] {
    ::sam3rt::decode_image(png.data(), png.size(), "palette.png", pixels - 1);
  });
  EXPECT_NE(message.find("is more than " + std::to_string(pixels - 1) + " pixels"), std::string::npos) << message;
  const std::vector<uint8_t> jpeg = read_bytes(kImages + "/progressive.jpg");
  EXPECT_THROW(::sam3rt::decode_image(jpeg.data(), jpeg.size(), "progressive.jpg", 10), Error);
}

// decode_mask: [H, W] bool where the first channel is above 127; a file of another size
// is an invalid argument, whether larger (refused from its header) or smaller.
TEST(DecodeMask, ThresholdsTheFirstChannelAndChecksTheSize) {
  const std::vector<uint8_t> png = read_bytes(kImages + "/palette.png");
  const at::Tensor rgb = ::sam3rt::decode_image(png.data(), png.size(), "palette.png");
  const int64_t h = rgb.size(0), w = rgb.size(1);
  const at::Tensor mask = ::sam3rt::decode_mask(png.data(), png.size(), w, h, "palette.png");
  ASSERT_EQ(mask.scalar_type(), at::kBool);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{h, w}));
  const auto* px = rgb.data_ptr<uint8_t>();
  const auto* m = mask.data_ptr<bool>();
  for (int64_t i = 0; i < h * w; ++i) ASSERT_EQ(m[i], px[i * 3] > 127) << i;
  const std::string larger = expect_error(ErrorCode::kInvalidArgument, [&] {
    ::sam3rt::decode_mask(png.data(), png.size(), w - 1, h, "palette.png");
  });
  EXPECT_NE(larger.find("larger than the image"), std::string::npos) << larger;
  const std::string smaller = expect_error(ErrorCode::kInvalidArgument, [&] {
    ::sam3rt::decode_mask(png.data(), png.size(), w + 1, h, "palette.png");
  });
  EXPECT_NE(smaller.find("but the image is"), std::string::npos) << smaller;
  EXPECT_THROW(::sam3rt::decode_mask(png.data(), png.size(), 0, h, "palette.png"), Error);
}

// Found by fuzz/image_fuzz.cpp: fill bytes before the start-of-image marker (0xFF 0xFF
// 0xD8) made stb decode a JPEG that the structure checks never walked, with a Huffman
// table of more than 256 symbols that stb 2.27 writes past. Refused in both builds.
TEST(DecodeImageErrors, FuzzFoundJpegWithFillBeforeStartOfImage) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/fuzz_huffman_overrun.jpg");
  const std::string message =
      expect_error(ErrorCode::kCorruption, [&] { decode(bytes, "fuzz_huffman_overrun.jpg"); });
  EXPECT_NE(message.find("fuzz_huffman_overrun.jpg"), std::string::npos) << message;
}

// Found by fuzz/image_fuzz.cpp (OpenCV build): probe_image_size read a 0xFF 0x00 pair as a
// segment with a length, jumped by it and took a frame header hidden in an APP0 payload,
// while libjpeg (like the structure walk) skips 0xFF 0x00 as stray bytes and decodes the
// real frame. The server's pixel limit rests on that probe, so the probe now walks the
// markers as decode_image does and the two agree.
TEST(DecodeImageErrors, FuzzFoundProbeAndDecoderReadTheSameFrameHeader) {
  const std::vector<uint8_t> real = read_bytes(kImages + "/progressive.jpg");  // 64x48
  // A baseline frame header declaring 4096x4096 (0x1000), one component.
  const std::vector<uint8_t> fake_sof = {0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x10, 0x00, 0x10, 0x00, 0x01, 0x01, 0x11, 0x00};
  std::vector<uint8_t> bytes = {0xFF, 0xD8,               // SOI
                                0xFF, 0x00, 0x00, 0x0A,   // stray pair, then what a length-reader reads as 10
                                0xFF, 0xE0, 0x00, 0x14};  // APP0 of 20 bytes (18 of payload)
  const std::vector<uint8_t> payload_head = {'s', 'a', 'm', '3'};
  bytes.insert(bytes.end(), payload_head.begin(), payload_head.end());  // offset 14: where the length-reader lands
  bytes.insert(bytes.end(), fake_sof.begin(), fake_sof.end());
  bytes.push_back(0x00);                                   // payload ends at offset 28
  bytes.insert(bytes.end(), real.begin() + 2, real.end());  // the real file after its SOI
  ASSERT_EQ(bytes[14], 0xFF);
  const auto probed = probe_image_size(bytes.data(), bytes.size());
  ASSERT_TRUE(probed.has_value());
  EXPECT_EQ(*probed, std::make_pair(int64_t{64}, int64_t{48}));
  // stb refuses the stray pair, libjpeg skips it: either way never a 4096x4096 image.
  try {
    expect_rgb_image(decode(bytes), 48, 64);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
  }
}

// Found by fuzz/image_fuzz.cpp (a 10-minute image_opencv run): an EXIF block of 8 to 11
// bytes made the IFD entry bound wrap (size - 12 in size_t), and its entries were read
// past the block. The block here ends the buffer, so the ASan build sees any such read.
TEST(DecodeImageErrors, FuzzFoundShortExifBlockIsReadWithinItself) {
  // SOI, APP1 of 19 bytes: "Exif\0\0" and an 11-byte big-endian TIFF block whose IFD at
  // offset 0 claims 0x4D4D entries.
  const std::vector<uint8_t> bytes = {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x13, 'E', 'x', 'i', 'f', 0, 0,
                                      'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xE1, 0xFF};
  EXPECT_EQ(jpeg_exif_orientation(bytes.data(), bytes.size()), 1);
  EXPECT_EQ(probe_image_size(bytes.data(), bytes.size()), std::nullopt);  // no frame header
  expect_error(ErrorCode::kCorruption, [&] { decode(bytes, "short_exif.jpg"); });
}

TEST(DecodeImageErrors, JpegWithASecondFrameHeaderIsCorruption) {
  const std::vector<uint8_t> real = read_bytes(kImages + "/progressive.jpg");
  const std::vector<uint8_t> sof = {0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x30, 0x00, 0x40, 0x01, 0x01, 0x11, 0x00};
  std::vector<uint8_t> bytes(real.begin(), real.begin() + 2);
  bytes.insert(bytes.end(), sof.begin(), sof.end());
  bytes.insert(bytes.end(), real.begin() + 2, real.end());
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode(bytes, "two_frames.jpg"); });
  EXPECT_NE(message.find("second frame header"), std::string::npos) << message;
  EXPECT_EQ(probe_image_size(bytes.data(), bytes.size()), std::nullopt);
}

// Other formats are refused in every build before any reader sees them: fuzzing found one
// of OpenCV's other readers allocating 604 MB for a small file (its pixel limit is read
// from the environment once, at load); a BMP header stands for them here.
TEST(DecodeImageErrors, OnlyPngAndJpegAreRead) {
  // A 24-bit BMP header declaring 14000x14000 pixels.
  const std::string bmp("BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\xb0\x36\0\0\xb0\x36\0\0\x01\0\x18\0", 30);
  const std::vector<uint8_t> bytes(bmp.begin(), bmp.end());
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode(bytes, "big.bmp"); });
  EXPECT_NE(message.find("not a PNG or JPEG"), std::string::npos) << message;
  EXPECT_NE(message.find("big.bmp"), std::string::npos) << message;
}

// Every proper prefix of a valid file must be rejected as corrupt, never decoded grey.
void expect_every_truncation_rejected(const std::string& file) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/" + file);
  ASSERT_GT(bytes.size(), 16u);
  ASSERT_NO_THROW(decode(bytes));
  for (size_t length = 1; length < bytes.size(); ++length) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    try {
      decode(prefix, file);
      ADD_FAILURE() << file << " truncated to " << length << " bytes decoded without error";
      return;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::kCorruption) << file << " at " << length << ": " << e.what();
      ASSERT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
}

TEST(DecodeImageErrors, EveryTruncatedPngIsCorruption) {
  expect_every_truncation_rejected("palette.png");
  expect_every_truncation_rejected("rgba.png");
  expect_every_truncation_rejected("rgb16.png");
}

TEST(DecodeImageErrors, EveryTruncatedJpegIsCorruption) {
  expect_every_truncation_rejected("progressive.jpg");
  expect_every_truncation_rejected("exif_rotate90.jpg");
}

TEST(DecodeImageErrors, TruncatedFileOnDiskNamesThePath) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/oven.jpg");
  const std::string path = temp_path("truncated_oven.jpg");
  write_bytes(path, bytes.data(), bytes.size() / 2);
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode_image(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(DecodeImageErrors, PngCrcMismatchIsCorruption) {
  std::vector<uint8_t> bytes = read_bytes(kImages + "/rgba.png");
  static const char kIdat[] = "IDAT";
  auto it = std::search(bytes.begin(), bytes.end(), kIdat, kIdat + 4);
  ASSERT_NE(it, bytes.end());
  it[6] ^= 0x01;  // a byte of the compressed data
  const std::string message = expect_error(ErrorCode::kCorruption, [&] { decode(bytes); });
  EXPECT_NE(message.find("CRC"), std::string::npos) << message;
}

// Flipping any single bit gives either an image or a sam3rt::Error: never a crash, never
// another exception type.
void expect_bit_flips_handled(const std::string& file) {
  const std::vector<uint8_t> bytes = read_bytes(kImages + "/" + file);
  int decoded = 0;
  int rejected = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit : {0, 7}) {
      std::vector<uint8_t> mutated = bytes;
      mutated[i] ^= static_cast<uint8_t>(1u << bit);
      try {
        at::Tensor image = decode(mutated, file);
        ASSERT_EQ(image.dim(), 3);
        ASSERT_EQ(image.size(2), 3);
        ++decoded;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0) << file;
  std::printf("[ bit flips ] %s: %d decoded, %d rejected\n", file.c_str(), decoded, rejected);
}

TEST(DecodeImageErrors, BitFlipsNeverCrash) {
  expect_bit_flips_handled("palette.png");
  expect_bit_flips_handled("rgb16.png");
  expect_bit_flips_handled("progressive.jpg");
  expect_bit_flips_handled("exif_rotate90.jpg");
}

TEST(DecodeImageErrors, GarbageAfterAJpegSignatureIsCorruption) {
  std::vector<uint8_t> bytes = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 200; ++i) bytes.push_back(static_cast<uint8_t>(i * 37 + 11));
  expect_error(ErrorCode::kCorruption, [&] { decode(bytes); });
}

// ---- PNG encoding ------------------------------------------------------------------

at::Tensor test_pattern(int64_t height, int64_t width, int64_t channels) {
  at::Tensor image = at::empty({height, width, channels}, at::kByte);
  uint8_t* p = image.data_ptr<uint8_t>();
  for (int64_t i = 0; i < image.numel(); ++i) p[i] = static_cast<uint8_t>((i * 131 + i / 7) % 256);
  return image;
}

uint8_t png_colour_type(const std::vector<uint8_t>& png) {
  EXPECT_GE(png.size(), 33u);
  return png.size() >= 33 ? png[25] : 255;  // IHDR data starts at 16; colour type at 16 + 9
}

TEST(EncodePng, RgbRoundTripIsExact) {
  at::Tensor image = test_pattern(13, 17, 3);
  const std::vector<uint8_t> png = encode_png(image);
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(std::memcmp(png.data(), "\x89PNG\r\n\x1a\n", 8), 0);
  EXPECT_EQ(png_colour_type(png), 2);
  EXPECT_TRUE(decode(png).equal(image));
}

TEST(EncodePng, RgbaKeepsAlphaAndDecodesToItsRgb) {
  at::Tensor image = test_pattern(5, 9, 4);
  const std::vector<uint8_t> png = encode_png(image);
  EXPECT_EQ(png_colour_type(png), 6);
  EXPECT_TRUE(decode(png).equal(image.narrow(2, 0, 3)));
}

TEST(EncodePng, GrayRoundTripIsReplicated) {
  at::Tensor gray = test_pattern(6, 11, 1).squeeze(2);
  const std::vector<uint8_t> png = encode_png(gray);
  EXPECT_EQ(png_colour_type(png), 0);
  at::Tensor decoded = decode(png);
  expect_rgb_image(decoded, 6, 11);
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(decoded.select(2, c).equal(gray)) << c;
}

TEST(EncodePng, NonContiguousInput) {
  at::Tensor chw = test_pattern(3, 10, 12).narrow(2, 0, 7);  // [3, 10, 7], strided
  at::Tensor hwc = chw.permute({1, 2, 0});                   // [10, 7, 3]
  ASSERT_FALSE(hwc.is_contiguous());
  EXPECT_TRUE(decode(encode_png(hwc)).equal(hwc.contiguous()));
}

TEST(EncodePng, WritePngThenDecodeImage) {
  at::Tensor image = test_pattern(20, 30, 3);
  const std::string path = temp_path("written.png");
  write_png(path, image);
  EXPECT_TRUE(decode_image(path).equal(image));
  std::remove(path.c_str());
}

TEST(EncodePng, Errors) {
  expect_error(ErrorCode::kInvalidArgument, [] { encode_png(at::zeros({4, 4, 3}, at::kFloat)); });
  expect_error(ErrorCode::kInvalidArgument, [] { encode_png(at::zeros({4, 4, 2}, at::kByte)); });
  expect_error(ErrorCode::kInvalidArgument, [] { encode_png(at::zeros({2, 4, 4, 3}, at::kByte)); });
  expect_error(ErrorCode::kInvalidArgument, [] { encode_png(at::zeros({0, 4, 3}, at::kByte)); });
  expect_error(ErrorCode::kInvalidArgument, [] { encode_png(at::Tensor()); });
  const std::string path = kImages + "/no_such_dir/out.png";
  const std::string message = expect_error(
      ErrorCode::kIo, [&] { write_png(path, at::zeros({4, 4, 3}, at::kByte)); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

}  // namespace
}  // namespace sam3rt::io
