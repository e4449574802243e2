#pragma once
// diffusers / transformers model folders: which weight files to read (plain, variant, sharded),
// config.json with diffusers' default rules, and copying a checkpoint into a module by name.

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sds/core/json.h"

namespace torch::nn {
class Module;
}

namespace sds::models {

/// A component's weights: tensors by key (CPU, stored dtypes) and the file each came from.
struct WeightMap {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> files;

  bool contains(const std::string& key) const { return tensors.count(key) > 0; }
  /// Moves the tensor at `from` to `to` (key normalisation); `to` must not exist.
  void rename(const std::string& from, const std::string& to);
  /// Drops `key` when present.
  void erase(const std::string& key);
};

/// Reads the weights of a component folder (`unet/`, `vae/`, `text_encoder/`) whose files are
/// named after `stem` ("diffusion_pytorch_model" or "model"): `<stem>.safetensors`, or with a
/// `variant` ("fp16") `<stem>.<variant>.safetensors`, or a sharded checkpoint through its index
/// (`<stem>.safetensors.index[.<variant>].json`, also the legacy
/// `<stem>.safetensors.<variant>.index.json`). Pickled `.bin` checkpoints are not read: a folder
/// that has only those is an sds::Error saying so, as is a missing or malformed file.
WeightMap read_weights(const std::filesystem::path& folder, const std::string& stem,
                       const std::string& variant = "");

/// A model config as diffusers reads it: keys starting with "_" are dropped and the keys listed
/// in `_use_default_values` are removed, so that readers apply the class defaults.
Json model_config(const Json& config);
/// `model_config` of a config.json file.
Json read_model_config(const std::filesystem::path& file);

/// Marks `key` as read and fails unless it is absent, null or equal to `supported`: for config
/// keys whose other values select features this port does not have.
void expect_config_value(ConfigReader& reader, const std::string& key, const Json& supported);

/// A config value that is one number for all blocks or one per block, as `count` values.
std::vector<int64_t> per_block(ConfigReader& reader, const std::string& key,
                               const std::vector<int64_t>& fallback, size_t count);

/// Copies `weights` into the parameters and buffers of `module` by name (casting to each
/// parameter's dtype and device). Every parameter must be present with its shape and every
/// weight must be used; otherwise an sds::Error lists the missing, unexpected and mismatched keys
/// with their files. `what` names the model in the message.
void load_weights(torch::nn::Module& module, const WeightMap& weights, const std::string& what);

}  // namespace sds::models
