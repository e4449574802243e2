#include "sds/models/clip_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <limits>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "unicode.h"

namespace sds::models {

namespace fs = std::filesystem;

namespace {

std::string merge_key(const std::string& a, const std::string& b) { return a + ' ' + b; }

// GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the other 68 bytes
// for U+0100 onwards in byte order, so that BPE never sees whitespace or control bytes.
void fill_byte_chars(std::string (&chars)[256]) {
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    chars[b] = unicode::encode_utf8(std::u32string(1, printable ? char32_t(b) : next++));
  }
}

// CLIP's pre-tokenisation regex, alternatives in its order:
// <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::u32string> split_pieces(const std::u32string& s) {
  static const std::u32string kSpecial[] = {U"<|startoftext|>", U"<|endoftext|>"};
  static const std::u32string kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> pieces;
  size_t i = 0;
  const size_t n = s.size();
  auto starts_with = [&](const std::u32string& p) { return s.compare(i, p.size(), p) == 0; };
  while (i < n) {
    const char32_t c = s[i];
    size_t length = 0;
    for (const auto& p : kSpecial) {
      if (!length && starts_with(p)) length = p.size();
    }
    if (!length && c == U'\'') {
      for (const auto& p : kContractions) {
        if (!length && starts_with(p)) length = p.size();
      }
    }
    if (!length) {
      if (unicode::is_letter(c)) {
        size_t j = i;
        while (j < n && unicode::is_letter(s[j])) ++j;
        length = j - i;
      } else if (unicode::is_number(c)) {
        length = 1;
      } else if (!unicode::is_whitespace(c)) {
        size_t j = i;
        while (j < n && !unicode::is_whitespace(s[j]) && !unicode::is_letter(s[j]) &&
               !unicode::is_number(s[j])) {
          ++j;
        }
        length = j - i;
      }
    }
    if (length) {
      pieces.push_back(s.substr(i, length));
      i += length;
    } else {
      ++i;  // whitespace is never part of a piece
    }
  }
  return pieces;
}

std::string token_content(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return {};
}

}  // namespace

CLIPTokenizer::CLIPTokenizer(std::unordered_map<std::string, int64_t> vocab,
                             std::vector<std::pair<std::string, std::string>> merges,
                             CLIPTokenizerOptions options, std::vector<std::string> added_tokens)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  SDS_CHECK(!vocab_.empty(), "CLIPTokenizer: the vocabulary is empty");
  SDS_CHECK(options_.model_max_length >= 2,
            "CLIPTokenizer: model_max_length must hold BOS and EOS (>= 2), got {}",
            options_.model_max_length);
  for (size_t r = 0; r < merges.size(); ++r) {
    merge_ranks_.emplace(merge_key(merges[r].first, merges[r].second), static_cast<int64_t>(r));
  }
  fill_byte_chars(byte_chars_);
  bos_id_ = id_of(options_.bos_token, "bos_token");
  eos_id_ = id_of(options_.eos_token, "eos_token");
  pad_id_ = id_of(options_.pad_token, "pad_token");
  unk_id_ = id_of(options_.unk_token, "unk_token");
  added_ = std::move(added_tokens);
  for (const std::string* t : {&options_.bos_token, &options_.eos_token, &options_.pad_token,
                               &options_.unk_token}) {
    added_.push_back(*t);
  }
  std::sort(added_.begin(), added_.end());
  added_.erase(std::unique(added_.begin(), added_.end()), added_.end());
  added_.erase(std::remove(added_.begin(), added_.end(), std::string()), added_.end());
  for (const std::string& t : added_) (void)id_of(t, "added token");
}

int64_t CLIPTokenizer::id_of(const std::string& token, const char* what) const {
  const auto it = vocab_.find(token);
  SDS_CHECK(it != vocab_.end(), "CLIPTokenizer: the {} \"{}\" is not in the vocabulary", what,
            token);
  return it->second;
}

std::shared_ptr<CLIPTokenizer> CLIPTokenizer::load(const fs::path& folder,
                                                   int64_t fallback_max_length) {
  SDS_CHECK(fs::is_directory(folder), "tokenizer folder {} does not exist", folder.string());
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> added;
  const fs::path tokenizer_json = folder / "tokenizer.json";
  if (fs::exists(tokenizer_json)) {
    const Json json = read_json_file(tokenizer_json);
    const std::string where = tokenizer_json.string();
    SDS_CHECK(json.contains("model") && json["model"].is_object(), "{}: no \"model\"", where);
    const Json& model = json["model"];
    SDS_CHECK(model.value("type", "") == "BPE", "{}: model.type must be BPE, got {}", where,
              model.value("type", Json()).dump());
    SDS_CHECK(model.contains("vocab") && model["vocab"].is_object(),
              "{}: model.vocab must be an object of token ids", where);
    for (const auto& [token, id] : model["vocab"].items()) vocab.emplace(token, id.get<int64_t>());
    SDS_CHECK(model.contains("merges") && model["merges"].is_array(),
              "{}: model.merges must be a list", where);
    for (const Json& m : model["merges"]) {
      if (m.is_array() && m.size() == 2) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ');
        SDS_CHECK(space != std::string::npos, "{}: merge \"{}\" is not two tokens", where, s);
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else {
        fail("{}: a merge must be [left, right] or \"left right\", got {}", where, m.dump());
      }
    }
    if (json.contains("added_tokens") && json["added_tokens"].is_array()) {
      for (const Json& t : json["added_tokens"]) {
        const std::string content = token_content(t);
        if (content.empty()) continue;
        added.push_back(content);
        if (t.contains("id")) vocab.emplace(content, t["id"].get<int64_t>());
      }
    }
  } else {
    const fs::path vocab_json = folder / "vocab.json";
    const fs::path merges_txt = folder / "merges.txt";
    SDS_CHECK(fs::exists(vocab_json) && fs::exists(merges_txt),
              "{}: a tokenizer needs tokenizer.json, or vocab.json and merges.txt",
              folder.string());
    const Json json = read_json_file(vocab_json);
    SDS_CHECK(json.is_object(), "{}: must be an object of token ids", vocab_json.string());
    for (const auto& [token, id] : json.items()) vocab.emplace(token, id.get<int64_t>());
    const std::string text = read_text_file(merges_txt);
    size_t begin = 0, line = 0;
    while (begin < text.size()) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      std::string row = text.substr(begin, end - begin);
      if (!row.empty() && row.back() == '\r') row.pop_back();
      ++line;
      begin = end + 1;
      if (row.empty() || (line == 1 && row.rfind("#version", 0) == 0)) continue;
      const size_t space = row.find(' ');
      SDS_CHECK(space != std::string::npos && row.find(' ', space + 1) == std::string::npos,
                "{}:{}: a merge is two tokens separated by one space, got \"{}\"",
                merges_txt.string(), line, row);
      merges.emplace_back(row.substr(0, space), row.substr(space + 1));
    }
  }

  CLIPTokenizerOptions options;
  double max_length = -1;
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const fs::path file = folder / name;
    if (!fs::exists(file)) continue;
    const Json json = read_json_file(file);
    if (!json.is_object()) continue;
    for (auto [key, target] : {std::pair{"bos_token", &options.bos_token},
                               std::pair{"eos_token", &options.eos_token},
                               std::pair{"pad_token", &options.pad_token},
                               std::pair{"unk_token", &options.unk_token}}) {
      if (json.contains(key)) {
        const std::string content = token_content(json[key]);
        if (!content.empty()) *target = content;
      }
    }
    if (json.contains("model_max_length") && json["model_max_length"].is_number()) {
      max_length = json["model_max_length"].get<double>();
    }
    if (json.contains("added_tokens_decoder") && json["added_tokens_decoder"].is_object()) {
      for (const auto& [id, t] : json["added_tokens_decoder"].items()) {
        const std::string content = token_content(t);
        if (content.empty()) continue;
        added.push_back(content);
        vocab.emplace(content, std::stoll(id));
      }
    }
  }
  options.model_max_length = (max_length >= 2 && max_length <= 1e6)
                                 ? static_cast<int64_t>(max_length)
                                 : fallback_max_length;
  return std::make_shared<CLIPTokenizer>(std::move(vocab), std::move(merges), std::move(options),
                                         std::move(added));
}

const std::vector<int64_t>& CLIPTokenizer::bpe(const std::string& piece) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(piece);
    if (it != cache_.end()) return it->second;
  }
  // Symbols: the byte characters of the piece, "</w>" on the last.
  std::vector<std::string> symbols;
  for (unsigned char b : piece) symbols.push_back(byte_chars_[b]);
  symbols.back() += "</w>";
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merge_ranks_.find(merge_key(symbols[i], symbols[i + 1]));
      if (it != merge_ranks_.end() && it->second < best) best = it->second, at = i;
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    // Merge every occurrence of the best pair, left to right.
    const std::string left = symbols[at], right = symbols[at + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
        merged.push_back(left + right);
        i += 2;
      } else {
        merged.push_back(symbols[i++]);
      }
    }
    symbols = std::move(merged);
  }
  std::vector<int64_t> ids;
  for (const auto& s : symbols) {
    const auto it = vocab_.find(s);
    ids.push_back(it != vocab_.end() ? it->second : unk_id_);
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cache_.emplace(piece, std::move(ids)).first->second;
}

void CLIPTokenizer::tokenize_segment(const std::string& text, std::vector<int64_t>& ids) const {
  if (text.empty()) return;
  const std::u32string composed = unicode::nfc(unicode::decode_utf8(text));
  // Runs of whitespace become one space (the normalizer's Replace(\s+, " ")).
  std::u32string spaced;
  bool in_space = false;
  for (char32_t c : composed) {
    const bool space = unicode::is_whitespace(c);
    if (!space) {
      spaced += c;
    } else if (!in_space) {
      spaced += U' ';
    }
    in_space = space;
  }
  for (const std::u32string& piece : split_pieces(unicode::to_lower(spaced))) {
    const auto& piece_ids = bpe(unicode::encode_utf8(piece));
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }
}

std::vector<int64_t> CLIPTokenizer::tokenize(const std::string& text) const {
  (void)unicode::decode_utf8(text);  // invalid UTF-8 fails before any splitting
  std::vector<int64_t> ids;
  size_t segment = 0, i = 0;
  while (i < text.size()) {
    // The leftmost, then longest, added token.
    const std::string* match = nullptr;
    for (const std::string& t : added_) {
      if (text.compare(i, t.size(), t) == 0 && (!match || t.size() > match->size())) match = &t;
    }
    if (!match) {
      ++i;
      continue;
    }
    tokenize_segment(text.substr(segment, i - segment), ids);
    ids.push_back(vocab_.at(*match));
    i += match->size();
    segment = i;
  }
  tokenize_segment(text.substr(segment), ids);
  return ids;
}

at::Tensor CLIPTokenizer::encode(const std::vector<std::string>& prompts) const {
  const int64_t length = options_.model_max_length;
  at::Tensor out = at::full({static_cast<int64_t>(prompts.size()), length}, pad_id_, at::kLong);
  auto* data = out.data_ptr<int64_t>();
  for (size_t b = 0; b < prompts.size(); ++b) {
    const std::vector<int64_t> ids = tokenize(prompts[b]);
    const size_t body = std::min(ids.size(), static_cast<size_t>(length - 2));
    int64_t* row = data + b * length;
    row[0] = bos_id_;
    std::copy(ids.begin(), ids.begin() + body, row + 1);
    row[body + 1] = eos_id_;
  }
  return out;
}

}  // namespace sds::models
