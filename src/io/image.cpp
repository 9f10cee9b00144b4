#include "io/image.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/gt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <optional>
#include <utility>

#include "sam3rt/error.h"

#ifdef SAM3RT_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#else
// stb, compiled into this file with internal linkage (no symbol clash, no link flag).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
// PNG and JPEG only: stb's other readers (GIF, PSD, HDR, PNM, ...) have open memory-safety
// bugs and are not formats sam3rt promises.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
// Zeroed allocations: on some corrupt JPEGs stb leaves output pixels unwritten, which
// would otherwise hold whatever the heap held before (a nondeterministic image, and old
// memory shown in overlays; found by fuzz/image_fuzz.cpp decoding one input twice).
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(p, size) realloc(p, size)
#define STBI_FREE(p) free(p)
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#endif

namespace sam3rt::io {
namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint32_t read_be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | uint32_t{p[1]}; }

bool is_png(const uint8_t* data, size_t size) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return size >= 8 && std::memcmp(data, kSignature, 8) == 0;
}
bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

void check_dimensions(int64_t width, int64_t height, const char* format, const std::string& name, int64_t max_pixels) {
  SAM3RT_CHECK(width > 0 && height > 0, kCorruption, "image ", name, ": zero-size ", format,
               " image (", width, "x", height, ")");
  const bool fits = width <= max_pixels && height <= max_pixels &&
                    width * height <= max_pixels;  // no overflow: both <= 2^30
  SAM3RT_CHECK(fits, kUnsupported, "image ", name, ": ", width, "x", height, " is more than ", max_pixels, " pixels");
}

// ---- PNG structure ---------------------------------------------------------------

// CRC-32 (ISO 3309, as PNG uses), table-driven.
constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

uint32_t crc32(const uint8_t* data, size_t size) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = kCrcTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// What a PNG or JPEG header declares: the stored size and the EXIF orientation (1 for PNG).
struct ImageHeader {
  int64_t width = 0;
  int64_t height = 0;
  int orientation = 1;
};

// Walks the chunks: IHDR first with a non-zero size, every chunk inside the data, the
// CRC of every critical chunk right (libpng rejects those too), an IDAT, and IEND.
ImageHeader validate_png(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  ImageHeader header;
  size_t pos = 8;
  bool seen_idat = false;
  for (int index = 0;; ++index) {
    SAM3RT_CHECK(size - pos >= 12, kCorruption, "image ", name,
                 ": truncated PNG (ends before the IEND chunk)");
    const uint32_t length = read_be32(data + pos);
    const uint8_t* type = data + pos + 4;
    std::string type_name(reinterpret_cast<const char*>(type), 4);
    for (char& ch : type_name) {
      if (!std::isalpha(static_cast<unsigned char>(ch))) ch = '?';  // printable in messages
    }
    SAM3RT_CHECK(length <= 0x7FFFFFFFu, kCorruption, "image ", name,
                 ": corrupt PNG (bad chunk length)");
    SAM3RT_CHECK(size - pos - 12 >= length, kCorruption, "image ", name,
                 ": truncated PNG (chunk ", type_name, " needs ", length, " bytes, ",
                 size - pos - 12, " left)");
    const uint8_t* body = type + 4;
    const bool critical = (type[0] & 0x20) == 0;
    if (critical) {
      SAM3RT_CHECK(crc32(type, length + 4) == read_be32(body + length), kCorruption, "image ",
                   name, ": corrupt PNG (CRC mismatch in chunk ", type_name, ")");
    }
    if (index == 0) {
      SAM3RT_CHECK(type_name == "IHDR" && length == 13, kCorruption, "image ", name,
                   ": corrupt PNG (no IHDR chunk first)");
      header.width = read_be32(body);
      header.height = read_be32(body + 4);
      check_dimensions(header.width, header.height, "PNG", name, max_pixels);
    }
    if (type_name == "IDAT") seen_idat = true;
    if (type_name == "IEND") {
      SAM3RT_CHECK(seen_idat, kCorruption, "image ", name, ": corrupt PNG (no image data)");
      return header;
    }
    pos += 12 + length;
  }
}

// ---- JPEG structure and EXIF -----------------------------------------------------

// The orientation tag of an EXIF TIFF block, 1 if absent or malformed.
int tiff_orientation(const uint8_t* tiff, size_t size) {
  if (size < 8) return 1;
  bool little;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    little = true;
  } else if (tiff[0] == 'M' && tiff[1] == 'M') {
    little = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t off) -> uint32_t {
    return little ? (uint32_t{tiff[off + 1]} << 8) | tiff[off] : read_be16(tiff + off);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return little ? (u16(off + 2) << 16) | u16(off) : read_be32(tiff + off);
  };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd > size - 2) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    if (size < 12 || entry > size - 12) break;  // (size - 12 wrapped for blocks of 8 to 11 bytes)
    if (u16(entry) != 0x0112) continue;
    const uint32_t type = u16(entry + 2);
    if (type != 3 || u32(entry + 4) < 1) return 1;  // SHORT, at least one value
    const uint32_t value = u16(entry + 8);
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

bool is_sof_marker(uint8_t m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// Walks the markers from SOI to EOI: every segment inside the data, a frame header with a
// non-zero size before the first scan, the entropy-coded data of each scan followed by a
// marker, and EOI at the end; throws Error(kCorruption) naming *name otherwise. With
// name == nullptr it reads only up to the first scan (for jpeg_exif_orientation) and never
// throws; the result's width is then 0 on any problem.
ImageHeader scan_jpeg(const uint8_t* data, size_t size, const std::string* name, int64_t max_pixels = kMaxImagePixels) {
  ImageHeader info;
  bool frame = false;
  bool scan = false;
  bool have_orientation = false;
  size_t pos = 2;
  auto fail = [&](ErrorCode code, const std::string& what) {
    if (name) throw Error(code, "image " + *name + ": " + what);
    info.width = 0;
  };
  while (true) {
    // Find the next marker; libjpeg skips stray bytes between segments, so do we.
    while (pos < size && data[pos] != 0xFF) ++pos;
    while (pos < size && data[pos] == 0xFF) ++pos;
    if (pos >= size) {
      fail(ErrorCode::kCorruption, "truncated JPEG (ends before the end-of-image marker)");
      return info;
    }
    const uint8_t marker = data[pos++];
    if (marker == 0xD9) {  // EOI
      if (!frame || !scan) fail(ErrorCode::kCorruption, "corrupt JPEG (no image data)");
      return info;
    }
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xD8) {
      fail(ErrorCode::kCorruption, "corrupt JPEG (a second start-of-image marker)");
      return info;
    }
    if (size - pos < 2) {
      fail(ErrorCode::kCorruption, "truncated JPEG (in a segment header)");
      return info;
    }
    const size_t length = read_be16(data + pos);
    if (length < 2) {
      fail(ErrorCode::kCorruption, "corrupt JPEG (bad segment length)");
      return info;
    }
    if (size - pos < length) {
      fail(ErrorCode::kCorruption, "truncated JPEG (a segment runs past the end of the data)");
      return info;
    }
    const uint8_t* body = data + pos + 2;
    const size_t body_size = length - 2;
    if (is_sof_marker(marker)) {
      if (frame) {  // libjpeg refuses it; a second size would make the image's size ambiguous
        fail(ErrorCode::kCorruption, "corrupt JPEG (a second frame header)");
        return info;
      }
      if (body_size < 6) {
        fail(ErrorCode::kCorruption, "corrupt JPEG (short frame header)");
        return info;
      }
      info.height = read_be16(body + 1);
      info.width = read_be16(body + 3);
      if (name) check_dimensions(info.width, info.height, "JPEG", *name, max_pixels);
      frame = true;
    } else if (marker == 0xC4) {
      // DHT: each table is a class/id byte, 16 code-length counts and that many symbols,
      // at most 256 (libjpeg refuses more; Debian's stb 2.27 does not check and overruns).
      size_t p = 0;
      while (p < body_size) {
        size_t symbols = 0;
        if (body_size - p >= 17) {
          for (size_t i = 1; i <= 16; ++i) symbols += body[p + i];
        }
        if (body_size - p < 17 || symbols > 256 || body_size - p - 17 < symbols) {
          fail(ErrorCode::kCorruption, "corrupt JPEG (bad Huffman table)");
          return info;
        }
        p += 17 + symbols;
      }
    } else if (marker == 0xE1 && !have_orientation && body_size >= 6 &&
               std::memcmp(body, "Exif\0\0", 6) == 0) {
      info.orientation = tiff_orientation(body + 6, body_size - 6);
      have_orientation = true;
    }
    pos += length;
    if (marker == 0xDA) {  // SOS: entropy-coded data up to the next real marker
      if (name == nullptr) return info;  // only the header was wanted (EXIF precedes SOS)
      if (!frame) {
        fail(ErrorCode::kCorruption, "corrupt JPEG (scan before the frame header)");
        return info;
      }
      scan = true;
      while (true) {
        const void* ff = pos < size ? std::memchr(data + pos, 0xFF, size - pos) : nullptr;
        if (ff == nullptr) {
          pos = size;
          break;
        }
        pos = static_cast<size_t>(static_cast<const uint8_t*>(ff) - data);
        if (pos + 1 >= size) {
          pos = size;
          break;
        }
        const uint8_t next = data[pos + 1];
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
          pos += 2;  // stuffed byte or restart marker: still in the scan
        } else if (next == 0xFF) {
          pos += 1;  // fill byte
        } else {
          break;  // a marker: back to the segment loop
        }
      }
      if (pos >= size) {
        fail(ErrorCode::kCorruption, "truncated JPEG (ends inside the image data)");
        return info;
      }
    }
  }
}

// ---- Backends --------------------------------------------------------------------

#ifdef SAM3RT_HAVE_OPENCV

at::Tensor decode_with_backend(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  SAM3RT_CHECK(size <= static_cast<size_t>(INT_MAX), kUnsupported, "image ", name,
               ": larger than 2 GiB");
  cv::Mat bgr;
  try {
    const cv::Mat encoded(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
    // 8-bit BGR as stored: decode_image applies the EXIF orientation it read itself, as
    // for stb, so both builds turn an image the same way.
    bgr = cv::imdecode(encoded, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    SAM3RT_FAIL(kCorruption, "image ", name, ": cannot be decoded (", e.what(), ")");
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    SAM3RT_FAIL(kCorruption, "image ", name, ": cannot be decoded (", e.what(), ")");
  }
  SAM3RT_CHECK(!bgr.empty(), kCorruption, "image ", name,
               ": not a readable image (unknown format or corrupt data)");
  SAM3RT_CHECK(bgr.type() == CV_8UC3, kInternal, "image ", name,
               ": OpenCV returned an unexpected type ", bgr.type());
  check_dimensions(bgr.cols, bgr.rows, "decoded", name, max_pixels);
  at::Tensor rgb = at::empty({bgr.rows, bgr.cols, 3}, at::kByte);  // [H, W, 3]
  cv::Mat out(bgr.rows, bgr.cols, CV_8UC3, rgb.data_ptr());
  cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
  SAM3RT_CHECK(out.data == rgb.data_ptr(), kInternal, "image ", name,
               ": colour conversion reallocated its output");
  return rgb;
}

std::vector<uint8_t> encode_with_backend(const at::Tensor& image) {
  const int height = static_cast<int>(image.size(0));
  const int width = static_cast<int>(image.size(1));
  const int channels = image.dim() == 2 ? 1 : static_cast<int>(image.size(2));
  const cv::Mat view(height, width, CV_MAKETYPE(CV_8U, channels), image.data_ptr());
  cv::Mat bgr;
  if (channels == 3) {
    cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
  } else if (channels == 4) {
    cv::cvtColor(view, bgr, cv::COLOR_RGBA2BGRA);
  } else {
    bgr = view;
  }
  std::vector<uint8_t> png;
  bool ok = false;
  try {
    ok = cv::imencode(".png", bgr, png);
  } catch (const cv::Exception& e) {
    SAM3RT_FAIL(kInternal, "PNG encoding failed: ", e.what());
  }
  SAM3RT_CHECK(ok, kInternal, "PNG encoding failed");
  return png;
}

#else  // stb

// Debian's stb_image 2.27 builds a Huffman table without checking that its 16 code-length
// counts add up to at most 256, and then writes past the table (found by
// fuzz/image_fuzz.cpp). scan_jpeg checks the tables it walks to, but stb's own marker walk
// differs on corrupt data (it takes any 0xFF after a scan as a marker), so here every
// 0xFF 0xC4 anywhere in the data is read the way stb would read a DHT segment there
// (reading past the end gives 0, as in stb) and the file is refused if any table could
// overrun. A valid JPEG has 0xFF 0xC4 only at its real DHT markers (entropy-coded data
// stuffs 0xFF as 0xFF 0x00), whose tables scan_jpeg has already checked.
void refuse_oversized_huffman_tables(const uint8_t* data, size_t size, const std::string& name) {
  const auto byte_at = [&](size_t i) -> size_t { return i < size ? data[i] : 0; };
  for (size_t at = 0; at + 1 < size; ++at) {
    if (data[at] != 0xFF || data[at + 1] != 0xC4) continue;
    size_t p = at + 2;
    long left = static_cast<long>((byte_at(p) << 8) | byte_at(p + 1)) - 2;
    p += 2;
    while (left > 0 && p < size) {
      const size_t q = byte_at(p);
      if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb refuses this table itself
      size_t symbols = 0;
      for (size_t i = 1; i <= 16; ++i) symbols += byte_at(p + i);
      SAM3RT_CHECK(symbols <= 256, kCorruption, "image ", name, ": corrupt JPEG (a Huffman table of ", symbols,
                   " symbols; at most 256)");
      p += 17 + symbols;
      left -= static_cast<long>(17 + symbols);
    }
  }
}

at::Tensor decode_with_backend(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  SAM3RT_CHECK(size <= static_cast<size_t>(INT_MAX), kUnsupported, "image ", name,
               ": larger than 2 GiB");
  if (is_jpeg(data, size)) refuse_oversized_huffman_tables(data, size, name);
  const int length = static_cast<int>(size);
  int width = 0;
  int height = 0;
  int channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels)) {
    SAM3RT_FAIL(kCorruption, "image ", name, ": not a readable image (", stbi_failure_reason(),
                ")");
  }
  check_dimensions(width, height, "decoded", name, max_pixels);
  // 3 components: palettes expanded, gray replicated, alpha dropped, 16-bit -> v >> 8.
  stbi_uc* pixels = stbi_load_from_memory(data, length, &width, &height, &channels, 3);
  SAM3RT_CHECK(pixels != nullptr, kCorruption, "image ", name, ": cannot be decoded (",
               stbi_failure_reason(), ")");
  at::Tensor rgb;
  try {
    check_dimensions(width, height, "decoded", name, max_pixels);
    rgb = at::empty({height, width, 3}, at::kByte);  // [H, W, 3]
    std::memcpy(rgb.data_ptr(), pixels, static_cast<size_t>(width) * height * 3);
  } catch (...) {
    stbi_image_free(pixels);
    throw;
  }
  stbi_image_free(pixels);
  return rgb;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

std::vector<uint8_t> encode_with_backend(const at::Tensor& image) {
  const int height = static_cast<int>(image.size(0));
  const int width = static_cast<int>(image.size(1));
  const int channels = image.dim() == 2 ? 1 : static_cast<int>(image.size(2));
  std::vector<uint8_t> png;
  const int ok = stbi_write_png_to_func(append_bytes, &png, width, height, channels,
                                        image.data_ptr(), width * channels);
  SAM3RT_CHECK(ok != 0, kInternal, "PNG encoding failed");
  return png;
}

#endif

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

int jpeg_exif_orientation(const uint8_t* data, size_t size) {
  if (data == nullptr || !is_jpeg(data, size)) return 1;
  return scan_jpeg(data, size, nullptr).orientation;
}

at::Tensor apply_exif_orientation(const at::Tensor& image_hwc, int orientation) {
  switch (orientation) {
    case 2: return image_hwc.flip({1}).contiguous();
    case 3: return image_hwc.flip({0, 1}).contiguous();
    case 4: return image_hwc.flip({0}).contiguous();
    case 5: return image_hwc.transpose(0, 1).contiguous();
    case 6: return image_hwc.transpose(0, 1).flip({1}).contiguous();
    case 7: return image_hwc.transpose(0, 1).flip({0, 1}).contiguous();
    case 8: return image_hwc.transpose(0, 1).flip({0}).contiguous();
    default: return image_hwc.contiguous();
  }
}

}  // namespace sam3rt::io

// The public functions (sam3rt/image.h).
namespace sam3rt {

using io::decode_with_backend;
using io::encode_with_backend;
using io::errno_text;
using io::is_jpeg;
using io::is_png;
using io::scan_jpeg;
using io::validate_png;

at::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  SAM3RT_CHECK(data != nullptr || size == 0, kInvalidArgument, "image ", name, ": null data");
  SAM3RT_CHECK(size > 0, kCorruption, "image ", name, ": empty file, not an image");
  SAM3RT_CHECK(max_pixels > 0, kInvalidArgument, "image ", name, ": the pixel limit must be positive");
  max_pixels = std::min(max_pixels, kMaxImagePixels);
  // Only formats whose structure is walked here, and whose size is known before any
  // pixel memory is allocated: other readers (OpenCV's BMP, TIFF, ...; stb's) allocate
  // whatever a few header bytes ask for.
  SAM3RT_CHECK(is_png(data, size) || is_jpeg(data, size), kCorruption, "image ", name,
               ": not a PNG or JPEG file (sam3rt reads those two formats)");
  const io::ImageHeader header =
      is_png(data, size) ? validate_png(data, size, name, max_pixels) : scan_jpeg(data, size, &name, max_pixels);
  at::Tensor stored;  // [H, W, 3] as stored
  try {
    stored = decode_with_backend(data, size, name, max_pixels);
  } catch (const std::bad_alloc&) {
    SAM3RT_FAIL(kUnsupported, "image ", name, ": out of memory while decoding");
  }
  // The decoders must agree with the header walked above (its size is what the pixel limit
  // and probe_image_size were checked against).
  SAM3RT_CHECK(stored.size(1) == header.width && stored.size(0) == header.height, kCorruption, "image ", name,
               ": decodes to ", stored.size(1), "x", stored.size(0), " pixels but its header declares ",
               header.width, "x", header.height);
  return io::apply_exif_orientation(stored, header.orientation);
}

namespace {

// The bytes of the image file at `path` (errors as decode_image(path) documents).
std::vector<uint8_t> read_image_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    SAM3RT_CHECK(error != ENOENT && error != ENOTDIR, kNotFound, "image file not found: ", path);
    SAM3RT_FAIL(kIo, "cannot open image ", path, ": ", errno_text(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  SAM3RT_CHECK(::fstat(fd, &st) == 0, kIo, "cannot stat image ", path, ": ", errno_text(errno));
  SAM3RT_CHECK(!S_ISDIR(st.st_mode), kIo, "cannot read image ", path, ": it is a directory");
  std::vector<uint8_t> bytes;
  bytes.reserve(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0);
  uint8_t buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    SAM3RT_CHECK(got >= 0, kIo, "cannot read image ", path, ": ", errno_text(errno));
    if (got == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + got);
    SAM3RT_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), kUnsupported, "image ", path,
                 ": larger than 2 GiB");
  }
  return bytes;
}

}  // namespace

at::Tensor decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_image_file(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

at::Tensor decode_mask(const uint8_t* data, size_t size, int64_t width, int64_t height, const std::string& name) {
  SAM3RT_CHECK(width > 0 && height > 0 && height <= kMaxImagePixels / width, kInvalidArgument, "mask ", name,
               ": the expected size ", width, "x", height, " is empty or too large");
  // Nothing larger than the expected mask is decoded (a wrong size is refused from the header).
  at::Tensor rgb;  // [H, W, 3]
  try {
    rgb = decode_image(data, size, name, width * height);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnsupported) throw;
    SAM3RT_FAIL(kInvalidArgument, "mask ", name, " is larger than the image (", width, "x", height, "): ", e.what());
  }
  SAM3RT_CHECK(rgb.size(0) == height && rgb.size(1) == width, kInvalidArgument, "mask ", name, " is ", rgb.size(1), "x",
               rgb.size(0), " but the image is ", width, "x", height);
  return rgb.select(2, 0).gt(127);  // [H, W] bool
}

at::Tensor decode_mask(const std::string& path, int64_t width, int64_t height) {
  const std::vector<uint8_t> bytes = read_image_file(path);
  return decode_mask(bytes.data(), bytes.size(), width, height, path);
}

std::vector<uint8_t> encode_png(const at::Tensor& image) {
  SAM3RT_CHECK(image.defined(), kInvalidArgument, "encode_png: undefined tensor");
  SAM3RT_CHECK(image.scalar_type() == at::kByte, kInvalidArgument,
               "encode_png: expected uint8, got ", image.scalar_type());
  const bool gray = image.dim() == 2;
  SAM3RT_CHECK(gray || (image.dim() == 3 && (image.size(2) == 3 || image.size(2) == 4)),
               kInvalidArgument, "encode_png: expected [H, W], [H, W, 3] or [H, W, 4], got ",
               image.sizes());
  SAM3RT_CHECK(image.size(0) > 0 && image.size(1) > 0, kInvalidArgument,
               "encode_png: empty image ", image.sizes());
  SAM3RT_CHECK(image.size(0) <= INT_MAX / 4 && image.size(1) <= INT_MAX / 4 &&
                   image.size(0) * image.size(1) <= kMaxImagePixels,
               kInvalidArgument, "encode_png: image too large ", image.sizes());
  const at::Tensor pixels = image.cpu().contiguous();
  return encode_with_backend(pixels);
}

void write_png(const std::string& path, const at::Tensor& image) {
  const std::vector<uint8_t> png = encode_png(image);
  // Written beside and renamed into place: a failed write (a full disk) leaves no
  // truncated PNG under the final name, and an older file there stays whole.
  const std::string part = path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SAM3RT_CHECK(fd >= 0, kIo, "cannot open ", path, " for writing: ", errno_text(errno));
  size_t done = 0;
  int error = 0;
  while (done < png.size()) {
    const ssize_t n = ::write(fd, png.data() + done, png.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(part.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(part.c_str());
    SAM3RT_FAIL(kIo, "cannot write ", path, ": ", errno_text(error));
  }
}

std::optional<std::pair<int64_t, int64_t>> probe_image_size(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const auto be32 = [&](size_t at) {
    return (uint32_t{data[at]} << 24) | (uint32_t{data[at + 1]} << 16) | (uint32_t{data[at + 2]} << 8) | data[at + 3];
  };
  if (size >= 24 && std::equal(kPng, kPng + 8, data) && std::equal(data + 12, data + 16, "IHDR")) {
    return std::make_pair(int64_t{be32(16)}, int64_t{be32(20)});
  }
  if (data != nullptr && is_jpeg(data, size)) {
    // The frame header decode_image would read: the same marker walk, up to the first scan.
    const io::ImageHeader header = io::scan_jpeg(data, size, nullptr);
    if (header.width > 0 && header.height > 0) return std::make_pair(header.width, header.height);
  }
  return std::nullopt;
}

}  // namespace sam3rt
