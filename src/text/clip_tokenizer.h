// ClipTokenizer: the CLIP byte-level BPE tokenizer of SAM 3's text encoder.
//
// It reproduces the tokenizer of Meta's original SAM 3 (a CLIP "SimpleTokenizer" built
// with clean="lower" and called with context_length=32), id for id:
//   1. clean: HTML-unescape twice, strip, collapse white-space runs to one space, strip,
//      lower-case (Python's str.lower(), final sigma included). ftfy.fix_text, which the
//      original runs first when the ftfy package is installed, is NOT reproduced: sam3rt
//      behaves like the original without ftfy (see docs/tokenizer.md);
//   2. pre-split with the CLIP pattern: the special-token strings, the contractions
//      's 't 're 've 'm 'll 'd, runs of letters, single digits, runs of other
//      non-space characters (matched over Unicode code points, case-insensitively);
//   3. byte-level BPE of each piece, its last symbol marked with "</w>";
//   4. frame as [start_of_text] + ids + [end_of_text]; a longer sequence keeps its first
//      context_length ids with end_of_text written over the last one; right-pad with 0;
//      attention_mask[i] = (ids[i] != 0), exactly as SAM 3's text encoder derives it (so a
//      real "!" token, whose id is 0, is masked too: that is the original's behaviour).
//
// The vocabulary comes from the OpenAI CLIP merges file (bpe_simple_vocab_16e6.txt.gz)
// or from Hugging Face CLIPTokenizer files (vocab.json + merges.txt); both give the same
// ids. Text is UTF-8; invalid UTF-8 is an error.
//
// Thread-safety: immutable after construction; every const method may be called from
// several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sam3rt::text {

class ClipTokenizer {
 public:
  struct Encoding {
    std::vector<int64_t> ids;             // [context_length]
    std::vector<int64_t> attention_mask;  // [context_length], 1 where ids != 0
  };

  // The OpenAI CLIP merges file (gzip). Line 0 is a header; lines [1, 48895) are the
  // 48,894 merges. Vocabulary: the 256 byte symbols in CLIP's byte order, the same with
  // "</w>", the merges joined, "<start_of_text>" = 49406, "<end_of_text>" = 49407.
  // Throws kNotFound if the file is missing, kCorruption if it is not gzip or a line is
  // malformed (the message names the file and the line).
  static ClipTokenizer from_bpe_gz(const std::string& path);

  // Hugging Face CLIPTokenizer files: vocab.json (token -> id) and merges.txt (an
  // optional "#version" first line, then one "left right" merge per line, by rank).
  // start/end of text are "<|startoftext|>"/"<|endoftext|>" (or the CLIP names).
  static ClipTokenizer from_hf_files(const std::string& vocab_json, const std::string& merges_txt);

  // vocab.json + merges.txt from `dir` when both are there, else the gz file.
  static ClipTokenizer from_model_dir(const std::string& dir, const std::string& fallback_bpe_gz);

  // SAM 3 encoding of one prompt (see the header comment). context_length >= 1.
  Encoding encode(std::string_view text, int context_length = 32) const;

  // The BPE ids of the cleaned text: no framing, no truncation, no padding.
  std::vector<int64_t> encode_bpe(std::string_view text) const;

  // The vocabulary strings of encode_bpe(text) (byte symbols, "</w>" marks a word end).
  std::vector<std::string> bpe_pieces(std::string_view text) const;

  // Step 1 alone: the cleaned UTF-8 text the pre-split sees.
  static std::string clean(std::string_view text);

  int64_t sot_id() const { return sot_id_; }
  int64_t eot_id() const { return eot_id_; }
  size_t vocab_size() const { return id_to_token_.size(); }

  // The vocabulary string of an id (UTF-8 of the byte-unicode symbols).
  const std::string& token(int64_t id) const;
  // The merges by rank, as read.
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

 private:
  ClipTokenizer() = default;

  struct MergeResult {
    int32_t rank;
    int32_t merged_id;
  };

  // Fills the byte ids and the merge table from id_to_token_/merges_; `source` and
  // `first_line` (1-based line of merges_[0]) name the file in error messages.
  void build(const std::string& source, size_t first_line);
  void bpe_word(const std::string& piece_utf8, std::vector<int64_t>& out) const;

  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int64_t> token_to_id_;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<uint64_t, MergeResult> merge_table_;  // (left id << 32 | right id)
  int64_t byte_id_[256] = {};
  int64_t byte_word_end_id_[256] = {};
  int64_t sot_id_ = -1;
  int64_t eot_id_ = -1;
};

// Python's html.unescape on UTF-8 text: numeric references (&#N; &#xH;, ';' optional)
// with the HTML5 replacements for invalid ones, and all 2,231 HTML5 named references
// (html.entities.html5) including the legacy names without ';' and the longest-prefix
// rule. Exposed for tests.
std::string html_unescape(std::string_view utf8);

// Python's str.lower() on UTF-8 text (full mappings, final sigma). Exposed for tests.
std::string python_lower(std::string_view utf8);

}  // namespace sam3rt::text
