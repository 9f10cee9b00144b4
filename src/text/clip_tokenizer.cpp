// CLIP byte-level BPE tokenizer, SAM 3 conventions (see clip_tokenizer.h and docs/tokenizer.md).
#include "text/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>
#include <tuple>

#include "sam3rt/error.h"

namespace sam3rt::text {
namespace {

// ---------------------------------------------------------------------------------------
// Generated tables (Unicode classes, Python's lower(), HTML references).

struct CodePointRange {
  char32_t lo;
  char32_t hi;
};
struct LowerRun {
  char32_t first;
  char32_t last;
  int stride;
  int delta;
};
struct LowerMulti {
  char32_t cp;
  int count;
  char32_t out[3];
};
struct InvalidCharref {
  uint32_t num;
  char32_t replacement;
};
struct NamedEntity {
  const char* name;
  const char* value;
};

#include "text/clip_tokenizer_tables.inc"

template <size_t N>
bool in_ranges(const CodePointRange (&table)[N], char32_t c) {
  // First range whose hi >= c; c is in it when lo <= c.
  const CodePointRange* it =
      std::lower_bound(std::begin(table), std::end(table), c,
                       [](const CodePointRange& r, char32_t v) { return r.hi < v; });
  return it != std::end(table) && it->lo <= c;
}

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr const char* kWordEnd = "</w>";
constexpr const char* kSotText = "<start_of_text>";
constexpr const char* kEotText = "<end_of_text>";
// The CLIP merges file: line 0 is a header, lines [1, 48895) are the merges used.
constexpr size_t kClipMergeCount = 49152 - 256 - 2;

// ---------------------------------------------------------------------------------------
// UTF-8

// Strict decoding (no overlongs, no surrogates, nothing above U+10FFFF). On failure
// returns false and sets *bad_offset to the offending byte.
bool decode_utf8(std::string_view s, std::u32string& out, size_t* bad_offset) {
  out.clear();
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      *bad_offset = i;
      return false;
    }
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) {
        *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
      *bad_offset = i;
      return false;
    }
    out.push_back(cp);
    i += len;
  }
  return true;
}

std::u32string decode_text(std::string_view s) {
  std::u32string out;
  size_t bad = 0;
  SAM3RT_CHECK(decode_utf8(s, out, &bad), kInvalidArgument,
               "text prompt is not valid UTF-8 (bad sequence at byte ", bad, ")");
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// ---------------------------------------------------------------------------------------
// html.unescape

const NamedEntity* find_entity(std::string_view name) {
  const NamedEntity* it = std::lower_bound(
      std::begin(kNamedEntities), std::end(kNamedEntities), name,
      [](const NamedEntity& e, std::string_view v) { return std::string_view(e.name) < v; });
  if (it != std::end(kNamedEntities) && std::string_view(it->name) == name) return it;
  return nullptr;
}

void append_utf8_text(std::u32string& out, const char* utf8) {
  std::u32string decoded;
  size_t bad = 0;
  decode_utf8(utf8, decoded, &bad);  // the generated table is valid UTF-8
  out += decoded;
}

// The text of the numeric reference with value `num` (saturated above U+10FFFF).
void append_numeric_charref(std::u32string& out, uint32_t num) {
  for (const InvalidCharref& r : kInvalidCharrefs) {
    if (r.num == num) {
      out.push_back(r.replacement);
      return;
    }
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > kMaxCodePoint) {
    out.push_back(kReplacementChar);
    return;
  }
  if (in_ranges(kDroppedCharrefRanges, num)) return;
  out.push_back(static_cast<char32_t>(num));
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char32_t c) {
  if (is_ascii_digit(c)) return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  return static_cast<int>(c - 'A' + 10);
}

// One pass of Python's html.unescape over code points. Python matches, at each '&',
// "#" digits [;] | "#" [xX] hex digits [;] | 1..32 characters other than
// \t \n \f space < & # ; followed by an optional ';', and replaces the match.
std::u32string unescape_once(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] != U'&') {
      out.push_back(s[i++]);
      continue;
    }
    const size_t j = i + 1;
    if (j < n && s[j] == U'#') {
      size_t k = j + 1;
      int base = 10;
      if (k < n && (s[k] == U'x' || s[k] == U'X') && k + 1 < n && is_ascii_hex(s[k + 1])) {
        base = 16;
        ++k;
      } else if (!(k < n && is_ascii_digit(s[k]))) {
        out.push_back(s[i++]);  // "&#" without digits: no reference here
        continue;
      }
      uint32_t num = 0;
      while (k < n && (base == 16 ? is_ascii_hex(s[k]) : is_ascii_digit(s[k]))) {
        const uint32_t digit = base == 16 ? static_cast<uint32_t>(hex_value(s[k]))
                                          : static_cast<uint32_t>(s[k] - U'0');
        // Saturate: every value above U+10FFFF gives the same result.
        num = num > kMaxCodePoint ? num : num * static_cast<uint32_t>(base) + digit;
        ++k;
      }
      if (k < n && s[k] == U';') ++k;
      append_numeric_charref(out, num);
      i = k;
      continue;
    }
    size_t k = j;
    while (k < n && k - j < 32) {
      const char32_t c = s[k];
      if (c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' ||
          c == U'#' || c == U';') {
        break;
      }
      ++k;
    }
    if (k == j) {
      out.push_back(s[i++]);
      continue;
    }
    if (k < n && s[k] == U';') ++k;
    const std::u32string name(s.begin() + static_cast<std::ptrdiff_t>(j),
                              s.begin() + static_cast<std::ptrdiff_t>(k));
    i = k;
    if (const NamedEntity* e = find_entity(encode_utf8(name))) {
      append_utf8_text(out, e->value);
      continue;
    }
    // The longest prefix (at least 2 characters, shorter than the name) that is a name.
    bool found = false;
    for (size_t len = name.size() - 1; len >= 2 && len < name.size(); --len) {
      if (const NamedEntity* e =
              find_entity(encode_utf8(std::u32string_view(name).substr(0, len)))) {
        append_utf8_text(out, e->value);
        out.append(name, len, std::u32string::npos);
        found = true;
        break;
      }
    }
    if (!found) {
      out.push_back(U'&');
      out += name;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Python str.lower()

void append_lower(std::u32string& out, char32_t c) {
  for (const LowerMulti& m : kLowerMulti) {
    if (m.cp == c) {
      out.append(m.out, static_cast<size_t>(m.count));
      return;
    }
  }
  // Last run whose first <= c.
  const LowerRun* it = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), c,
                                        [](char32_t v, const LowerRun& r) { return v < r.first; });
  if (it != std::begin(kLowerRuns)) {
    const LowerRun& r = *(it - 1);
    if (c <= r.last && (c - r.first) % static_cast<char32_t>(r.stride) == 0) {
      out.push_back(static_cast<char32_t>(static_cast<int64_t>(c) + r.delta));
      return;
    }
  }
  out.push_back(c);
}

// CPython's rule for U+03A3: final (U+03C2) when a cased letter precedes it and none
// follows it, skipping case-ignorable characters both ways; else U+03C3.
char32_t lower_capital_sigma(const std::u32string& s, size_t i) {
  size_t j = i;
  while (j > 0 && in_ranges(kCaseIgnorableRanges, s[j - 1])) --j;
  bool final_sigma = j > 0 && in_ranges(kCasedRanges, s[j - 1]);
  if (final_sigma) {
    size_t k = i + 1;
    while (k < s.size() && in_ranges(kCaseIgnorableRanges, s[k])) ++k;
    final_sigma = k == s.size() || !in_ranges(kCasedRanges, s[k]);
  }
  return final_sigma ? 0x3C2 : 0x3C3;
}

std::u32string lower(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0x3A3) {
      out.push_back(lower_capital_sigma(s, i));
    } else {
      append_lower(out, s[i]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Cleaning

bool is_python_space(char32_t c) { return in_ranges(kPythonSpaceRanges, c); }
bool is_regex_space(char32_t c) { return in_ranges(kRegexSpaceRanges, c); }

std::u32string python_strip(const std::u32string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_python_space(s[b])) ++b;
  while (e > b && is_python_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// The original's clean="lower": ftfy.fix_text (not available: identity), html.unescape
// twice, strip, regex \s+ -> " ", strip, lower().
std::u32string clean_u32(std::string_view text) {
  std::u32string s = decode_text(text);
  s = unescape_once(unescape_once(s));
  s = python_strip(s);
  std::u32string collapsed;
  collapsed.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (is_regex_space(s[i])) {
      collapsed.push_back(U' ');
      while (i < s.size() && is_regex_space(s[i])) ++i;
    } else {
      collapsed.push_back(s[i++]);
    }
  }
  return lower(python_strip(collapsed));
}

// ---------------------------------------------------------------------------------------
// Pre-split: <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
// [^\s\p{L}\p{N}]+, case-insensitive, leftmost alternative first, as regex.findall.

enum class CharClass { kLetter, kNumber, kSkip, kOther };

CharClass classify(char32_t c) {
  if (in_ranges(kLetterRanges, c)) return CharClass::kLetter;
  if (in_ranges(kNumberRanges, c)) return CharClass::kNumber;
  if (is_regex_space(c) || in_ranges(kUnmatchedRanges, c)) return CharClass::kSkip;
  return CharClass::kOther;
}

// Case-insensitive match of one pattern character (ASCII) as the regex module does it:
// the other ASCII case, and U+017F LATIN SMALL LETTER LONG S for 's'.
bool icase_equal(char32_t c, char p) {
  if (c == static_cast<char32_t>(p)) return true;
  if (p >= 'a' && p <= 'z') {
    if (c == static_cast<char32_t>(p - 'a' + 'A')) return true;
    if (p == 's' && c == 0x17F) return true;
  }
  return false;
}

bool icase_match_at(const std::u32string& s, size_t i, std::string_view lit) {
  if (s.size() - i < lit.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    if (!icase_equal(s[i + k], lit[k])) return false;
  }
  return true;
}

bool exact_match_at(const std::u32string& s, size_t i, std::string_view lit) {
  if (s.size() - i < lit.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    if (s[i + k] != static_cast<char32_t>(lit[k])) return false;
  }
  return true;
}

struct Piece {
  size_t begin;
  size_t end;
  int special;  // 0: BPE the piece; 1: <start_of_text>; 2: <end_of_text>
};

// Calls fn(Piece) for each piece in order; stops early when fn returns false.
template <typename Fn>
void split_pieces(const std::u32string& s, Fn&& fn) {
  static constexpr std::array<std::string_view, 7> kContractions = {"s", "t",  "re", "ve",
                                                                    "m", "ll", "d"};
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    Piece p{i, i, 0};
    // A special-token string matched case-insensitively becomes the special id only when
    // it is spelled exactly (the original looks the piece up in its cache); otherwise
    // it is BPE'd like any other piece.
    if (s[i] == U'<' && icase_match_at(s, i, kSotText)) {
      p.end = i + std::string_view(kSotText).size();
      p.special = exact_match_at(s, i, kSotText) ? 1 : 0;
    } else if (s[i] == U'<' && icase_match_at(s, i, kEotText)) {
      p.end = i + std::string_view(kEotText).size();
      p.special = exact_match_at(s, i, kEotText) ? 2 : 0;
    } else {
      if (s[i] == U'\'') {
        for (std::string_view c : kContractions) {
          if (icase_match_at(s, i + 1, c)) {
            p.end = i + 1 + c.size();
            break;
          }
        }
      }
      if (p.end == i) {
        const CharClass cls = classify(s[i]);
        if (cls == CharClass::kSkip) {
          ++i;
          continue;
        }
        p.end = i + 1;
        if (cls != CharClass::kNumber) {
          while (p.end < n && classify(s[p.end]) == cls) ++p.end;
        }
      }
    }
    i = p.end;
    if (!fn(p)) return;
  }
}

// ---------------------------------------------------------------------------------------
// Byte-level symbols

// CLIP's byte -> code point map: printable Latin-1 bytes map to themselves, the other 68
// bytes (controls, space, DEL, NBSP, soft hyphen, ...) to U+0100 + k in byte order. The
// vocabulary lists the bytes in this order: the printable ones, then the others.
struct ByteOrder {
  std::array<uint8_t, 256> byte_at{};     // vocabulary position -> byte
  std::array<char32_t, 256> symbol_of{};  // byte -> code point of its symbol
};

ByteOrder clip_byte_order() {
  ByteOrder o;
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  size_t pos = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) {
      o.byte_at[pos++] = static_cast<uint8_t>(b);
      o.symbol_of[static_cast<size_t>(b)] = static_cast<char32_t>(b);
    }
  }
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) {
      o.byte_at[pos++] = static_cast<uint8_t>(b);
      o.symbol_of[static_cast<size_t>(b)] = next++;
    }
  }
  return o;
}

std::string symbol_utf8(const ByteOrder& order, uint8_t byte) {
  std::string s;
  append_utf8(s, order.symbol_of[byte]);
  return s;
}

// ---------------------------------------------------------------------------------------
// Files

std::string read_gzip(const std::string& path) {
  SAM3RT_CHECK(std::filesystem::is_regular_file(path), kNotFound,
               "CLIP vocabulary file not found: ", path);
  gzFile f = gzopen(path.c_str(), "rb");
  SAM3RT_CHECK(f != nullptr, kIo, "cannot open CLIP vocabulary file ", path);
  std::string data;
  std::array<char, 1 << 16> buf{};
  bool ok = true;
  std::string why;
  for (;;) {
    const int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got < 0) {
      int errnum = 0;
      why = gzerror(f, &errnum);
      ok = false;
      break;
    }
    if (got == 0) break;
    if (gzdirect(f)) {
      ok = false;
      why = "not gzip data";
      break;
    }
    data.append(buf.data(), static_cast<size_t>(got));
  }
  if (ok) {
    int errnum = 0;
    const char* msg = gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
      ok = false;
      why = msg;
    }
  }
  const int close_rc = gzclose_r(f);
  if (ok && close_rc != Z_OK) {
    ok = false;
    why = "error at the end of the gzip stream (code " + std::to_string(close_rc) + ")";
  }
  SAM3RT_CHECK(ok, kCorruption, "CLIP vocabulary file ", path, " is not a valid gzip file: ", why);
  SAM3RT_CHECK(!data.empty(), kCorruption, "CLIP vocabulary file ", path, " is empty");
  return data;
}

std::string read_text_file(const std::string& path, const char* what) {
  SAM3RT_CHECK(std::filesystem::is_regular_file(path), kNotFound, what, " not found: ", path);
  std::ifstream in(path, std::ios::binary);
  SAM3RT_CHECK(in.good(), kIo, "cannot open ", what, " ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  SAM3RT_CHECK(!in.bad(), kIo, "cannot read ", what, " ", path);
  return ss.str();
}

std::vector<std::string_view> split_lines(std::string_view data) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(data.substr(start));
      break;
    }
    lines.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// "left right" -> {left, right}; line_no is 1-based, for the message.
std::pair<std::string, std::string> parse_merge(std::string_view line, const std::string& path,
                                                size_t line_no) {
  std::u32string ignored;
  size_t bad = 0;
  SAM3RT_CHECK(decode_utf8(line, ignored, &bad), kCorruption, path, " line ", line_no,
               ": not valid UTF-8 (byte ", bad, ")");
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_ascii_space(line[i])) ++i;
    const size_t b = i;
    while (i < line.size() && !is_ascii_space(line[i])) ++i;
    if (i > b) parts.push_back(line.substr(b, i - b));
  }
  SAM3RT_CHECK(parts.size() == 2, kCorruption, path, " line ", line_no,
               ": expected a merge of two symbols separated by a space, got \"", line.substr(0, 80),
               "\"");
  return {std::string(parts[0]), std::string(parts[1])};
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Free helpers

std::string html_unescape(std::string_view utf8) {
  return encode_utf8(unescape_once(decode_text(utf8)));
}

std::string python_lower(std::string_view utf8) { return encode_utf8(lower(decode_text(utf8))); }

// ---------------------------------------------------------------------------------------
// Loading

void ClipTokenizer::build(const std::string& source, size_t first_line) {
  const ByteOrder order = clip_byte_order();
  for (int b = 0; b < 256; ++b) {
    const std::string sym = symbol_utf8(order, static_cast<uint8_t>(b));
    auto it = token_to_id_.find(sym);
    auto it_end = token_to_id_.find(sym + kWordEnd);
    SAM3RT_CHECK(it != token_to_id_.end() && it_end != token_to_id_.end(), kCorruption, source,
                 ": the vocabulary lacks the symbol of byte ", b, " (\"", sym, "\" and/or \"", sym,
                 kWordEnd, "\")");
    byte_id_[b] = it->second;
    byte_word_end_id_[b] = it_end->second;
  }
  merge_table_.clear();
  merge_table_.reserve(merges_.size() * 2);
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [left, right] = merges_[r];
    auto merged = token_to_id_.find(left + right);
    SAM3RT_CHECK(merged != token_to_id_.end(), kCorruption, source, " line ", first_line + r,
                 ": the merged symbol \"", left + right, "\" is not in the vocabulary");
    auto l = token_to_id_.find(left);
    auto rr = token_to_id_.find(right);
    // A pair with a symbol outside the vocabulary can never form; the original keeps its
    // rank all the same, which changes nothing.
    if (l == token_to_id_.end() || rr == token_to_id_.end()) continue;
    const uint64_t key =
        (static_cast<uint64_t>(l->second) << 32) | static_cast<uint64_t>(rr->second);
    // A repeated pair takes its last rank, as a Python dict built from the list does.
    merge_table_[key] = MergeResult{static_cast<int32_t>(r), static_cast<int32_t>(merged->second)};
  }
}

ClipTokenizer ClipTokenizer::from_bpe_gz(const std::string& path) {
  const std::string data = read_gzip(path);
  const std::vector<std::string_view> lines = split_lines(data);
  SAM3RT_CHECK(lines.size() >= kClipMergeCount + 1, kCorruption, "CLIP vocabulary file ", path,
               " has ", lines.size(), " lines; expected a header line and ", kClipMergeCount,
               " merges");
  ClipTokenizer tok;
  tok.merges_.reserve(kClipMergeCount);
  for (size_t i = 1; i <= kClipMergeCount; ++i) {
    tok.merges_.push_back(parse_merge(lines[i], path, i + 1));
  }
  const ByteOrder order = clip_byte_order();
  tok.id_to_token_.reserve(512 + kClipMergeCount + 2);
  for (size_t k = 0; k < 256; ++k) tok.id_to_token_.push_back(symbol_utf8(order, order.byte_at[k]));
  for (size_t k = 0; k < 256; ++k) tok.id_to_token_.push_back(tok.id_to_token_[k] + kWordEnd);
  for (const auto& [left, right] : tok.merges_) tok.id_to_token_.push_back(left + right);
  tok.sot_id_ = static_cast<int64_t>(tok.id_to_token_.size());
  tok.id_to_token_.emplace_back(kSotText);
  tok.eot_id_ = static_cast<int64_t>(tok.id_to_token_.size());
  tok.id_to_token_.emplace_back(kEotText);
  tok.token_to_id_.reserve(tok.id_to_token_.size());
  for (size_t id = 0; id < tok.id_to_token_.size(); ++id) {
    tok.token_to_id_[tok.id_to_token_[id]] = static_cast<int64_t>(id);  // last one wins
  }
  tok.build(path, 2);
  return tok;
}

ClipTokenizer ClipTokenizer::from_hf_files(const std::string& vocab_json,
                                           const std::string& merges_txt) {
  const std::string vocab_text = read_text_file(vocab_json, "tokenizer vocab.json");
  const std::string merges_text = read_text_file(merges_txt, "tokenizer merges.txt");

  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::parse_error& e) {
    SAM3RT_FAIL(kCorruption, vocab_json, ": not valid JSON (byte ", e.byte, ")");
  }
  SAM3RT_CHECK(vocab.is_object() && !vocab.empty(), kCorruption, vocab_json,
               ": expected a non-empty JSON object mapping tokens to ids");
  ClipTokenizer tok;
  const size_t size = vocab.size();
  tok.id_to_token_.assign(size, std::string());
  std::vector<bool> seen(size, false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    SAM3RT_CHECK(it.value().is_number_integer(), kCorruption, vocab_json, ": the id of token \"",
                 it.key(), "\" is not an integer");
    const int64_t id = it.value().get<int64_t>();
    SAM3RT_CHECK(id >= 0 && static_cast<size_t>(id) < size, kCorruption, vocab_json, ": the id ",
                 id, " of token \"", it.key(), "\" is outside [0, ", size, ")");
    SAM3RT_CHECK(!seen[static_cast<size_t>(id)], kCorruption, vocab_json, ": the id ", id,
                 " is given to two tokens (\"", tok.id_to_token_[static_cast<size_t>(id)],
                 "\" and \"", it.key(), "\")");
    seen[static_cast<size_t>(id)] = true;
    tok.id_to_token_[static_cast<size_t>(id)] = it.key();
    tok.token_to_id_[it.key()] = id;
  }
  auto special = [&](const char* hf_name, const char* clip_name) -> int64_t {
    auto it = tok.token_to_id_.find(hf_name);
    if (it == tok.token_to_id_.end()) it = tok.token_to_id_.find(clip_name);
    SAM3RT_CHECK(it != tok.token_to_id_.end(), kCorruption, vocab_json, ": no \"", hf_name,
                 "\" (or \"", clip_name, "\") token");
    return it->second;
  };
  tok.sot_id_ = special("<|startoftext|>", kSotText);
  tok.eot_id_ = special("<|endoftext|>", kEotText);

  const std::vector<std::string_view> lines = split_lines(merges_text);
  size_t first_line = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (i == 0 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    if (first_line == 0) first_line = i + 1;
    tok.merges_.push_back(parse_merge(line, merges_txt, i + 1));
  }
  SAM3RT_CHECK(!tok.merges_.empty(), kCorruption, merges_txt, ": no merges");
  // Blank lines are skipped above; they never sit inside a real merges file, so the line
  // numbers in build()'s messages assume none.
  tok.build(merges_txt, first_line);
  return tok;
}

ClipTokenizer ClipTokenizer::from_model_dir(const std::string& dir,
                                            const std::string& fallback_bpe_gz) {
  const std::filesystem::path d(dir);
  const std::filesystem::path vocab = d / "vocab.json";
  const std::filesystem::path merges = d / "merges.txt";
  if (std::filesystem::is_regular_file(vocab) && std::filesystem::is_regular_file(merges)) {
    return from_hf_files(vocab.string(), merges.string());
  }
  SAM3RT_CHECK(std::filesystem::is_regular_file(fallback_bpe_gz), kNotFound,
               "no tokenizer files (vocab.json + merges.txt) in ", dir,
               " and the CLIP vocabulary file ", fallback_bpe_gz, " was not found");
  return from_bpe_gz(fallback_bpe_gz);
}

// ---------------------------------------------------------------------------------------
// Encoding

const std::string& ClipTokenizer::token(int64_t id) const {
  SAM3RT_CHECK(id >= 0 && static_cast<size_t>(id) < id_to_token_.size(), kInvalidArgument,
               "token id ", id, " is outside the vocabulary [0, ", id_to_token_.size(), ")");
  return id_to_token_[static_cast<size_t>(id)];
}

// BPE of one pre-split piece, appending its ids to `out`. The original merges, while any
// adjacent pair has a rank, every non-overlapping occurrence (left to right) of the
// lowest-ranked pair. This does the same with a heap ordered by (rank, position): one
// rank's occurrences are merged in position order, and the pairs they create join the
// heap only once that rank is done, as the next round of the original would see them.
void ClipTokenizer::bpe_word(const std::string& piece_utf8, std::vector<int64_t>& out) const {
  const size_t n = piece_utf8.size();
  if (n == 0) return;
  std::vector<int64_t> sym(n);
  for (size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(piece_utf8[i]);
    sym[i] = i + 1 == n ? byte_word_end_id_[b] : byte_id_[b];
  }
  if (n == 1) {
    out.push_back(sym[0]);
    return;
  }
  std::vector<int64_t> prev(n);
  std::vector<int64_t> next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1;
  }
  // (rank, left position, left id, right id), smallest first.
  using Entry = std::tuple<int32_t, int64_t, int64_t, int64_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  std::vector<Entry> pending;
  auto pair_entry = [&](int64_t left, std::vector<Entry>& into) {
    if (left < 0 || next[static_cast<size_t>(left)] < 0) return;
    const int64_t a = sym[static_cast<size_t>(left)];
    const int64_t b = sym[static_cast<size_t>(next[static_cast<size_t>(left)])];
    auto it = merge_table_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b));
    if (it != merge_table_.end()) into.emplace_back(it->second.rank, left, a, b);
  };
  for (size_t i = 0; i + 1 < n; ++i) pair_entry(static_cast<int64_t>(i), pending);
  for (const Entry& e : pending) heap.push(e);
  pending.clear();

  while (!heap.empty()) {
    const int32_t rank = std::get<0>(heap.top());
    while (!heap.empty() && std::get<0>(heap.top()) == rank) {
      const auto [r, left, a, b] = heap.top();
      heap.pop();
      const auto li = static_cast<size_t>(left);
      if (!alive[li] || sym[li] != a || next[li] < 0) continue;
      const auto ri = static_cast<size_t>(next[li]);
      if (sym[ri] != b) continue;
      const int64_t key = (static_cast<int64_t>(a) << 32) | b;
      sym[li] = merge_table_.at(static_cast<uint64_t>(key)).merged_id;
      alive[ri] = false;
      next[li] = next[ri];
      if (next[ri] >= 0) prev[static_cast<size_t>(next[ri])] = left;
      pair_entry(prev[li], pending);
      pair_entry(left, pending);
    }
    for (const Entry& e : pending) heap.push(e);
    pending.clear();
  }
  for (int64_t i = 0; i >= 0; i = next[static_cast<size_t>(i)])
    out.push_back(sym[static_cast<size_t>(i)]);
}

std::string ClipTokenizer::clean(std::string_view text) { return encode_utf8(clean_u32(text)); }

namespace {
// encode_bpe with an optional cap: stops once at least `limit` ids are out.
template <typename BpeFn>
void bpe_ids(const std::u32string& cleaned, size_t limit, int64_t sot, int64_t eot,
             std::vector<int64_t>& out, BpeFn&& bpe) {
  split_pieces(cleaned, [&](const Piece& p) {
    if (p.special == 1) {
      out.push_back(sot);
    } else if (p.special == 2) {
      out.push_back(eot);
    } else {
      bpe(encode_utf8(std::u32string_view(cleaned).substr(p.begin, p.end - p.begin)), out);
    }
    return out.size() < limit;
  });
}
}  // namespace

std::vector<int64_t> ClipTokenizer::encode_bpe(std::string_view text) const {
  std::vector<int64_t> ids;
  bpe_ids(clean_u32(text), static_cast<size_t>(-1), sot_id_, eot_id_, ids,
          [this](const std::string& piece, std::vector<int64_t>& out) { bpe_word(piece, out); });
  return ids;
}

std::vector<std::string> ClipTokenizer::bpe_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int64_t id : encode_bpe(text)) pieces.push_back(token(id));
  return pieces;
}

ClipTokenizer::Encoding ClipTokenizer::encode(std::string_view text, int context_length) const {
  SAM3RT_CHECK(context_length >= 1, kInvalidArgument, "context_length must be at least 1, got ",
               context_length);
  const auto ctx = static_cast<size_t>(context_length);
  // Only the first ctx - 1 BPE ids can reach the output; stop there.
  std::vector<int64_t> tokens{sot_id_};
  bpe_ids(clean_u32(text), ctx, sot_id_, eot_id_, tokens,
          [this](const std::string& piece, std::vector<int64_t>& out) { bpe_word(piece, out); });
  tokens.push_back(eot_id_);
  if (tokens.size() > ctx) {
    tokens.resize(ctx);
    tokens.back() = eot_id_;
  }
  Encoding enc;
  enc.ids.assign(ctx, 0);
  std::copy(tokens.begin(), tokens.end(), enc.ids.begin());
  enc.attention_mask.resize(ctx);
  for (size_t i = 0; i < ctx; ++i) enc.attention_mask[i] = enc.ids[i] != 0 ? 1 : 0;
  return enc;
}

}  // namespace sam3rt::text
