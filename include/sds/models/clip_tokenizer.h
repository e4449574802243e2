#pragma once
// The CLIP BPE tokenizer as transformers' CLIPTokenizer runs it: added and special tokens split
// off first; then NFC, whitespace runs to one space, lower case; CLIP's pre-tokenisation
// (contractions, letter runs, single digits, punctuation runs); byte-level BPE with "</w>" at
// word ends; BOS + ids + EOS, truncated and padded to the model's length.

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sds::models {

/// The special tokens and length of a CLIPTokenizer (transformers' defaults; SD 2 pads with "!").
struct CLIPTokenizerOptions {
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string pad_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
  int64_t model_max_length = 77;
};

/// A CLIP tokenizer over a vocabulary (token -> id) and ranked BPE merges. Thread-safe.
class CLIPTokenizer {
 public:
  /// `added_tokens`: tokens matched verbatim in the raw text before anything else (the special
  /// tokens of `options` always are). Every special and added token must be in `vocab`.
  CLIPTokenizer(std::unordered_map<std::string, int64_t> vocab,
                std::vector<std::pair<std::string, std::string>> merges,
                CLIPTokenizerOptions options = {}, std::vector<std::string> added_tokens = {});

  /// Loads a transformers `tokenizer/` folder: `tokenizer.json`, or `vocab.json` + `merges.txt`,
  /// with the special tokens and length of `tokenizer_config.json` / `special_tokens_map.json`.
  /// A `model_max_length` that is absent or absurd (transformers writes 1e30 when none was
  /// given) becomes `fallback_max_length` (the text encoder's positions).
  static std::shared_ptr<CLIPTokenizer> load(const std::filesystem::path& folder,
                                             int64_t fallback_max_length = 77);

  /// The ids of `text` without BOS, EOS, truncation or padding. Invalid UTF-8 is an sds::Error.
  std::vector<int64_t> tokenize(const std::string& text) const;
  /// `[B, model_max_length]` int64: BOS, the first model_max_length - 2 ids of each prompt, EOS,
  /// then padding (transformers' padding="max_length", truncation=True).
  at::Tensor encode(const std::vector<std::string>& prompts) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t model_max_length() const { return options_.model_max_length; }
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  const CLIPTokenizerOptions& options() const { return options_; }

 private:
  void tokenize_segment(const std::string& text, std::vector<int64_t>& ids) const;
  const std::vector<int64_t>& bpe(const std::string& piece) const;
  int64_t id_of(const std::string& token, const char* what) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> merge_ranks_;
  CLIPTokenizerOptions options_;
  std::vector<std::string> added_;
  int64_t bos_id_, eos_id_, pad_id_, unk_id_;
  std::string byte_chars_[256];
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace sds::models
