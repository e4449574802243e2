#include "sds/core/json.h"

#include <fmt/ranges.h>

#include <fstream>
#include <sstream>

#include "sds/core/io.h"

namespace sds {

const Json ConfigReader::null_ = nullptr;

namespace {

// nlohmann reports a byte offset; users want line and column.
std::pair<size_t, size_t> line_column(const std::string& text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

Json parse_json(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    fail("{}:{}:{}: malformed JSON: {}", source, line, column, e.what());
  }
}

Json read_json_file(const std::filesystem::path& path) {
  return parse_json(read_text_file(path), path.string());
}

void set_json_path(Json& root, const std::string& path, const std::string& value) {
  SDS_CHECK(!path.empty(), "--set: expected key=value with a non-empty key, got \"={}\"", value);
  Json* node = &root;
  std::stringstream parts(path);
  std::string part;
  std::vector<std::string> keys;
  while (std::getline(parts, part, '.')) keys.push_back(part);
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    Json& child = (*node)[keys[i]];
    if (child.is_null()) child = Json::object();
    SDS_CHECK(child.is_object(), "--set {}: \"{}\" is not an object", path, keys[i]);
    node = &child;
  }
  Json parsed;
  try {
    parsed = Json::parse(value);
  } catch (const nlohmann::json::parse_error&) {
    parsed = value;  // a bare word is a string
  }
  (*node)[keys.back()] = parsed;
}

ConfigReader::ConfigReader(const Json& object, std::string where)
    : object_(object), where_(std::move(where)) {
  SDS_CHECK(object_.is_object(), "{}: expected a JSON object, got {}", where_, object_.type_name());
}

const Json& ConfigReader::raw(const std::string& key) {
  known_.insert(key);
  return object_.contains(key) ? object_.at(key) : null_;
}

bool ConfigReader::has(const std::string& key) {
  known_.insert(key);
  return object_.contains(key);
}

std::vector<std::string> ConfigReader::keys() const {
  std::vector<std::string> out;
  for (const auto& item : object_.items()) out.push_back(item.key());
  return out;
}

void ConfigReader::finish() const {
  std::vector<std::string> unknown;
  for (const auto& item : object_.items()) {
    if (!known_.count(item.key())) unknown.push_back(item.key());
  }
  SDS_CHECK(unknown.empty(), "{}: unknown key{} \"{}\"; valid keys are: {}", where_,
            unknown.size() > 1 ? "s" : "", fmt::join(unknown, "\", \""), fmt::join(known_, ", "));
}

}  // namespace sds
