#pragma once
// The Unicode the CLIP tokenizer needs: UTF-8, the letter and number classes, per-character
// lower-casing and NFC, from tables generated out of Python's unicodedata.

#include <string>
#include <string_view>

namespace sds::models::unicode {

/// Code points of UTF-8 text; an invalid sequence is an sds::Error naming its byte offset.
std::u32string decode_utf8(std::string_view text);
/// UTF-8 of code points.
std::string encode_utf8(std::u32string_view text);

bool is_letter(char32_t c);      ///< general category L*
bool is_number(char32_t c);      ///< general category N*
bool is_whitespace(char32_t c);  ///< the White_Space property
/// Each character's full lower-case mapping (no context: final sigma stays sigma).
std::u32string to_lower(std::u32string_view text);
/// Canonical composition (NFC).
std::u32string nfc(std::u32string_view text);

}  // namespace sds::models::unicode
