#pragma once
// safetensors files (8-byte little-endian header length, a JSON header, packed tensor bytes): a
// validating reader over memory-mapped data, and an atomic writer.

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sds::models {

/// One tensor's entry in a safetensors header; offsets are relative to the end of the header.
struct SafetensorsEntry {
  std::string dtype;  ///< "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A safetensors file opened for reading. The header is parsed and validated when the file is
/// opened (size, JSON, dtypes, shapes, contiguous offsets that cover the data exactly); a bad
/// file is an sds::Error naming the file and the entry. The data is memory-mapped and read on
/// demand, so opening a multi-gigabyte file costs nothing until its tensors are used.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  /// The tensor names, sorted.
  std::vector<std::string> keys() const;
  bool contains(const std::string& key) const { return entries_.count(key) > 0; }
  /// The header entry of `key`; an unknown key is an sds::Error.
  const SafetensorsEntry& entry(const std::string& key) const;
  /// The tensor `key` on the CPU in its stored dtype. It shares the mapped memory when that is
  /// aligned for its dtype (copy-on-write: writing to it never changes the file) and is a copy
  /// otherwise.
  at::Tensor tensor(const std::string& key) const;
  /// The header's `__metadata__` (string to string; empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  uint64_t data_offset_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// The torch dtype of a safetensors dtype string; an unknown string is an sds::Error.
at::ScalarType safetensors_dtype(const std::string& name);

/// Every tensor of a file, by name (CPU, stored dtypes).
std::map<std::string, at::Tensor> read_safetensors(const std::filesystem::path& path);

/// Writes `tensors` (any device and dtype that safetensors has; copied to contiguous CPU memory)
/// atomically, laid out as the reference writer does: the header padded with spaces to a multiple
/// of 8 bytes and tensors ordered by dtype size, then by name, so that each is aligned.
void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sds::models
