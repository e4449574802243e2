#pragma once

#include <array>
#include <type_traits>
// JSON configs: parsing with positions in errors, a reader that rejects unknown keys, and
// `--set key=value` overrides.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "sds/core/error.h"

namespace sds {

using Json = nlohmann::json;

/// Parses JSON text; a syntax error is an sds::Error naming `source`, line and column.
Json parse_json(const std::string& text, const std::string& source);

/// Reads and parses a JSON file; a missing file is an sds::Error.
Json read_json_file(const std::filesystem::path& path);

/// Sets `root[a][b][c] = value` for `path` "a.b.c"; `value` is parsed as JSON and falls back to a
/// plain string ("lr=0.1", "prompt=a red mug", "size=[64,64]").
void set_json_path(Json& root, const std::string& path, const std::string& value);

/// Reads the fields of one JSON object with defaults and remembers which keys were read, so that
/// `finish()` can reject unknown keys (a typo must not silently fall back to a default).
class ConfigReader {
 public:
  /// `where` names the object in messages, e.g. "guidance".
  ConfigReader(const Json& object, std::string where);

  /// The value of `key`, or `fallback` when absent. A value of the wrong type is an sds::Error.
  template <class T>
  T get(const std::string& key, const T& fallback) {
    known_.insert(key);
    if (!object_.contains(key)) return fallback;
    return convert<T>(key);
  }

  /// The value of `key`; absence is an sds::Error.
  template <class T>
  T require(const std::string& key) {
    known_.insert(key);
    SDS_CHECK(object_.contains(key), "{}: missing required key \"{}\"", where_, key);
    return convert<T>(key);
  }

  /// The raw JSON of `key` (null when absent); marks it as known.
  const Json& raw(const std::string& key);

  /// Whether `key` is present; marks it as known.
  bool has(const std::string& key);

  /// Every key of the object, read or not.
  std::vector<std::string> keys() const;

  /// Throws sds::Error when the object has keys that were never read, listing the valid ones.
  void finish() const;

  const std::string& where() const { return where_; }

 private:
  template <class T>
  struct fixed_size : std::false_type {};
  template <class V, size_t N>
  struct fixed_size<std::array<V, N>> : std::true_type {
    static constexpr size_t size = N;
  };

  template <class T>
  T convert(const std::string& key) const {
    if constexpr (fixed_size<T>::value) {
      // nlohmann reads the first N elements of a longer array; a [lo, hi] range with a third
      // element is a typo, not a range.
      const Json& v = object_.at(key);
      SDS_CHECK(v.is_array() && v.size() == fixed_size<T>::size,
                "{}.{}: expected an array of {} values, got {}", where_, key, fixed_size<T>::size,
                v.dump());
    }
    try {
      return object_.at(key).get<T>();
    } catch (const nlohmann::json::exception& e) {
      fail("{}.{}: has the wrong type ({}): {}", where_, key, object_.at(key).type_name(),
           e.what());
    }
  }

  const Json& object_;
  std::string where_;
  std::set<std::string> known_;
  static const Json null_;
};

}  // namespace sds
