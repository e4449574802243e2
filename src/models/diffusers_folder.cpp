#include "sds/models/diffusers_folder.h"

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/module.h>

#include <fmt/ranges.h>

#include <set>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/models/safetensors.h"

namespace sds::models {

namespace fs = std::filesystem;

void WeightMap::rename(const std::string& from, const std::string& to) {
  const auto it = tensors.find(from);
  SDS_CHECK(it != tensors.end(), "WeightMap::rename: no key \"{}\"", from);
  SDS_CHECK(!tensors.count(to), "WeightMap::rename: \"{}\" and \"{}\" are both in the checkpoint",
            from, to);
  tensors.emplace(to, it->second);
  tensors.erase(it);
  files[to] = files[from];
  files.erase(from);
}

void WeightMap::erase(const std::string& key) {
  tensors.erase(key);
  files.erase(key);
}

namespace {

void add_file(WeightMap& weights, const fs::path& file) {
  SafetensorsFile reader(file);
  for (const std::string& key : reader.keys()) {
    SDS_CHECK(!weights.tensors.count(key), "{}: tensor \"{}\" is also in {}", file.string(), key,
              weights.files.at(key));
    weights.tensors.emplace(key, reader.tensor(key));
    weights.files.emplace(key, file.filename().string());
  }
}

}  // namespace

WeightMap read_weights(const fs::path& folder, const std::string& stem, const std::string& variant) {
  SDS_CHECK(fs::is_directory(folder), "model folder {} does not exist", folder.string());
  const std::string infix = variant.empty() ? "" : "." + variant;
  const fs::path single = folder / (stem + infix + ".safetensors");
  std::vector<fs::path> indexes = {folder / (stem + ".safetensors.index" + infix + ".json")};
  if (!variant.empty()) indexes.push_back(folder / (stem + ".safetensors" + infix + ".index.json"));

  WeightMap weights;
  if (fs::exists(single)) {
    add_file(weights, single);
    return weights;
  }
  for (const fs::path& index : indexes) {
    if (!fs::exists(index)) continue;
    const Json json = read_json_file(index);
    SDS_CHECK(json.is_object() && json.contains("weight_map") && json["weight_map"].is_object(),
              "{}: a shard index needs an object \"weight_map\"", index.string());
    std::set<std::string> shards;
    for (const auto& [key, shard] : json["weight_map"].items()) {
      SDS_CHECK(shard.is_string(), "{}: weight_map.{} is not a file name", index.string(), key);
      shards.insert(shard.get<std::string>());
    }
    for (const std::string& shard : shards) {
      SDS_CHECK(fs::path(shard).filename() == shard, "{}: shard \"{}\" is not a file name in {}",
                index.string(), shard, folder.string());
      add_file(weights, folder / shard);
    }
    for (const auto& [key, shard] : json["weight_map"].items()) {
      SDS_CHECK(weights.tensors.count(key) && weights.files.at(key) == shard.get<std::string>(),
                "{}: the index puts \"{}\" in {}, which does not hold it", index.string(), key,
                shard.get<std::string>());
    }
    SDS_CHECK(weights.tensors.size() == json["weight_map"].size(),
              "{}: the shards hold {} tensors but the index lists {}", index.string(),
              weights.tensors.size(), json["weight_map"].size());
    return weights;
  }
  std::vector<std::string> present;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_regular_file()) present.push_back(entry.path().filename().string());
  }
  std::sort(present.begin(), present.end());
  const bool pickles = std::any_of(present.begin(), present.end(), [](const std::string& name) {
    return name.size() > 4 && name.compare(name.size() - 4, 4, ".bin") == 0;
  });
  fail("{}: no {} weights: expected {} or a shard index {} (found: {}){}", folder.string(),
       variant.empty() ? "safetensors" : "\"" + variant + "\" variant", single.filename().string(),
       indexes.front().filename().string(), present.empty() ? "nothing" : fmt::format("{}", fmt::join(present, ", ")),
       pickles ? "; pickled .bin checkpoints are not read: convert them to safetensors" : "");
}

Json read_model_config(const fs::path& file) {
  const Json config = read_json_file(file);
  SDS_CHECK(config.is_object(), "{}: a model config is a JSON object", file.string());
  return model_config(config);
}

Json model_config(const Json& config) {
  SDS_CHECK(config.is_object(), "a model config is a JSON object, got {}", config.type_name());
  std::vector<std::string> defaults;
  if (config.contains("_use_default_values") && config["_use_default_values"].is_array()) {
    for (const Json& key : config["_use_default_values"])
      if (key.is_string()) defaults.push_back(key.get<std::string>());
  }
  Json cleaned = Json::object();
  for (const auto& [key, value] : config.items()) {
    if (key.empty() || key[0] == '_') continue;
    if (std::find(defaults.begin(), defaults.end(), key) != defaults.end()) continue;
    cleaned[key] = value;
  }
  return cleaned;
}

void expect_config_value(ConfigReader& reader, const std::string& key, const Json& supported) {
  const Json& value = reader.raw(key);
  SDS_CHECK(value.is_null() || value == supported,
            "{}: {} = {} is not supported (this port implements {} = {})", reader.where(), key,
            value.dump(), key, supported.dump());
}

std::vector<int64_t> per_block(ConfigReader& reader, const std::string& key,
                               const std::vector<int64_t>& fallback, size_t count) {
  const Json& value = reader.raw(key);
  std::vector<int64_t> values;
  if (value.is_null()) {
    values = fallback;
  } else if (value.is_number_integer()) {
    values.assign(count, value.get<int64_t>());
  } else {
    SDS_CHECK(value.is_array() && std::all_of(value.begin(), value.end(),
                                              [](const Json& v) { return v.is_number_integer(); }),
              "{}: {} must be an integer or a list of integers, got {}", reader.where(), key,
              value.dump());
    values = value.get<std::vector<int64_t>>();
  }
  if (values.size() == 1 && count > 1) values.assign(count, values[0]);
  SDS_CHECK(values.size() == count, "{}: {} has {} values for {} blocks", reader.where(), key,
            values.size(), count);
  return values;
}

void load_weights(torch::nn::Module& module, const WeightMap& weights, const std::string& what) {
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (auto& item : module.named_parameters()) targets.emplace_back(item.key(), item.value());
  for (auto& item : module.named_buffers()) targets.emplace_back(item.key(), item.value());

  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> used;
  for (const auto& [key, target] : targets) {
    const auto it = weights.tensors.find(key);
    if (it == weights.tensors.end()) {
      missing.push_back(key);
      continue;
    }
    used.insert(key);
    const at::Tensor& source = it->second;
    if (source.sizes() != target.sizes() ||
        source.is_floating_point() != target.is_floating_point()) {
      mismatched.push_back(fmt::format("{} ({}: {} {}, the model needs {} {})", key,
                                       weights.files.at(key), c10::toString(source.scalar_type()),
                                       shape_string(source.sizes()),
                                       c10::toString(target.scalar_type()),
                                       shape_string(target.sizes())));
    }
  }
  for (const auto& [key, tensor] : weights.tensors) {
    if (!used.count(key)) unexpected.push_back(fmt::format("{} ({})", key, weights.files.at(key)));
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    static constexpr size_t kShown = 12;
    auto list = [](const std::vector<std::string>& keys) {
      std::vector<std::string> shown(keys.begin(), keys.begin() + std::min(keys.size(), kShown));
      std::string text = fmt::format("{}", fmt::join(shown, ", "));
      if (keys.size() > kShown) text += fmt::format(", ... ({} in all)", keys.size());
      return text;
    };
    std::string message = fmt::format("{}: the checkpoint does not match the model", what);
    if (!missing.empty()) message += fmt::format("; missing: {}", list(missing));
    if (!mismatched.empty()) message += fmt::format("; wrong shape or kind: {}", list(mismatched));
    if (!unexpected.empty()) message += fmt::format("; unexpected: {}", list(unexpected));
    fail("{}", message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : targets) target.copy_(weights.tensors.at(key));
}

}  // namespace sds::models
