#include "unicode.h"

#include <algorithm>
#include <cstdint>

#include "sds/core/error.h"

namespace sds::models::unicode {

namespace {

struct CodeRange {
  char32_t first, last;
};
struct CodeMap {
  char32_t from, to;
};
struct MultiMap {
  char32_t from;
  char32_t to[4];  // zero-terminated when shorter
};
struct ClassRange {
  char32_t first, last;
  int cls;
};
struct Composition {
  char32_t first, second, composite;
};

#include "unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t c) {
  const auto it = std::upper_bound(std::begin(table), std::end(table), c,
                                   [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

template <class T, size_t N>
const T* find_from(const T (&table)[N], char32_t c) {
  const auto it = std::lower_bound(std::begin(table), std::end(table), c,
                                   [](const T& m, char32_t v) { return m.from < v; });
  return it != std::end(table) && it->from == c ? &*it : nullptr;
}

int combining_class(char32_t c) {
  const auto it = std::upper_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), c,
                                   [](char32_t v, const ClassRange& r) { return v < r.first; });
  if (it == std::begin(kCombiningClasses)) return 0;
  const ClassRange& r = *std::prev(it);
  return c <= r.last ? r.cls : 0;
}

// Hangul syllables decompose and compose algorithmically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t s = c - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount) out += kTBase + s % kTCount;
    return;
  }
  if (const MultiMap* m = find_from(kDecompositions, c)) {
    for (char32_t p : m->to) {
      if (!p) break;
      out += p;
    }
    return;
  }
  out += c;
}

char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto it = std::lower_bound(
      std::begin(kCompositions), std::end(kCompositions), std::pair{a, b},
      [](const Composition& c, const std::pair<char32_t, char32_t>& key) {
        return std::pair{c.first, c.second} < key;
      });
  if (it != std::end(kCompositions) && it->first == a && it->second == b) return it->composite;
  return 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int length = 0;
    char32_t c = 0;
    if (byte < 0x80) {
      length = 1, c = byte;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2, c = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3, c = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4, c = byte & 0x07;
    } else {
      fail("invalid UTF-8: byte 0x{:02X} at offset {} cannot start a character", byte, i);
    }
    SDS_CHECK(i + length <= text.size(), "invalid UTF-8: the text ends inside a character at "
              "offset {}", i);
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      SDS_CHECK((next & 0xC0) == 0x80, "invalid UTF-8: byte 0x{:02X} at offset {} does not "
                "continue a character", next, i + k);
      c = (c << 6) | (next & 0x3F);
    }
    constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    SDS_CHECK(c >= kMin[length] && c < 0x110000 && !(c >= 0xD800 && c < 0xE000),
              "invalid UTF-8: an overlong or out-of-range character at offset {}", i);
    out += c;
    i += length;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

bool is_letter(char32_t c) { return in_ranges(kLetters, c); }
bool is_number(char32_t c) { return in_ranges(kNumbers, c); }

bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else if (const CodeMap* m = find_from(kLower, c)) {
      out += m->to;
    } else if (const MultiMap* mm = find_from(kLowerMulti, c)) {
      for (char32_t p : mm->to) {
        if (!p) break;
        out += p;
      }
    } else {
      out += c;
    }
  }
  return out;
}

std::u32string nfc(std::u32string_view text) {
  // Decompose fully, order each run of combining marks by class, then recompose.
  std::u32string d;
  d.reserve(text.size());
  for (char32_t c : text) decompose(c, d);
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](char32_t a, char32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j;
  }
  if (d.empty()) return d;
  size_t starter = 0;
  int last_class = combining_class(d[0]) == 0 ? 0 : 256;
  size_t out = 1;
  for (size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int cls = combining_class(c);
    // Unicode's sample composition: c combines with the last starter unless a mark of the same
    // or a higher class (or another starter) stands between them.
    const char32_t composite =
        (last_class < cls || last_class == 0) ? compose(d[starter], c) : char32_t{0};
    if (composite) {
      d[starter] = composite;
      continue;
    }
    if (cls == 0) {
      starter = out;
      last_class = 0;
    } else {
      last_class = cls;
    }
    d[out++] = c;
  }
  d.resize(out);
  return d;
}

}  // namespace sds::models::unicode
