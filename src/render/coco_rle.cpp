#include "render/coco_rle.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <limits>

#include "sam3rt/error.h"

namespace sam3rt::render {

std::vector<uint32_t> rle_runs(const at::Tensor& mask) {
  SAM3RT_CHECK(mask.dim() == 2, kInvalidArgument, "COCO RLE needs a [H, W] mask, got ", mask.dim(), " dims");
  // Column-major order = row-major order of the transposed mask.
  at::Tensor flat = mask.to(at::kByte).t().contiguous().view({-1}).cpu();
  const uint8_t* p = flat.data_ptr<uint8_t>();
  const int64_t n = flat.numel();
  std::vector<uint32_t> runs;
  uint8_t current = 0;
  uint32_t length = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t v = p[i] ? 1 : 0;
    if (v != current) {
      runs.push_back(length);
      length = 0;
      current = v;
    }
    ++length;
  }
  runs.push_back(length);
  return runs;
}

std::string rle_runs_to_string(const std::vector<uint32_t>& runs) {
  std::string out;
  for (size_t i = 0; i < runs.size(); ++i) {
    int64_t x = runs[i];
    if (i > 2) x -= static_cast<int64_t>(runs[i - 2]);
    bool more = true;
    while (more) {
      int64_t c = x & 0x1f;
      x >>= 5;  // arithmetic shift: negative deltas end at -1
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      out.push_back(static_cast<char>(c + 48));
    }
  }
  return out;
}

std::vector<uint32_t> rle_string_to_runs(const std::string& counts) {
  std::vector<uint32_t> runs;
  size_t p = 0;
  while (p < counts.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      SAM3RT_CHECK(p < counts.size(), kCorruption, "COCO RLE counts string ends inside a number");
      const int64_t c = static_cast<int64_t>(static_cast<unsigned char>(counts[p])) - 48;
      SAM3RT_CHECK(c >= 0 && c < 64 && k < 7, kCorruption, "COCO RLE counts string is malformed at offset ", p);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(~uint64_t{0} << (5 * k));  // sign-extend
    }
    if (runs.size() > 2) x += runs[runs.size() - 2];
    SAM3RT_CHECK(x >= 0 && x <= UINT32_MAX, kCorruption, "COCO RLE run length out of range");
    runs.push_back(static_cast<uint32_t>(x));
  }
  return runs;
}

}  // namespace sam3rt::render

// The public pair (sam3rt/render.h).
namespace sam3rt {

CocoRle encode_coco_rle(const at::Tensor& mask) {
  CocoRle rle;
  rle.height = mask.size(0);
  rle.width = mask.size(1);
  rle.counts = render::rle_runs_to_string(render::rle_runs(mask));
  return rle;
}

at::Tensor decode_coco_rle(const CocoRle& rle) {
  SAM3RT_CHECK(rle.height >= 0 && rle.width >= 0, kCorruption, "COCO RLE size must be non-negative");
  SAM3RT_CHECK(rle.width == 0 || rle.height <= std::numeric_limits<int64_t>::max() / rle.width, kCorruption,
               "COCO RLE size ", rle.height, "x", rle.width, " is too large");
  const auto runs = render::rle_string_to_runs(rle.counts);
  const int64_t n = rle.height * rle.width;
  // The runs must cover the mask exactly: checked before the mask is allocated, so that a
  // size with no runs behind it costs nothing.
  int64_t covered = 0;
  for (uint32_t r : runs) {
    SAM3RT_CHECK(covered <= n - static_cast<int64_t>(r), kCorruption, "COCO RLE runs exceed the ", rle.height, "x",
                 rle.width, " mask");
    covered += r;
  }
  SAM3RT_CHECK(covered == n, kCorruption, "COCO RLE runs cover ", covered, " of ", n, " pixels");
  at::Tensor flat = at::empty({n}, at::TensorOptions().dtype(at::kBool));
  bool* p = flat.data_ptr<bool>();
  int64_t pos = 0;
  bool value = false;
  for (uint32_t r : runs) {
    std::fill(p + pos, p + pos + r, value);
    pos += r;
    value = !value;
  }
  return flat.view({rle.width, rle.height}).t().contiguous();
}

}  // namespace sam3rt
