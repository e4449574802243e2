#include "sds/models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <tuple>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"

namespace sds::models {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader maps it without byte swapping");

namespace {

// The reference reader's bound: a larger header is a corrupt length, not a real file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", at::kBool},   {"U8", at::kByte},     {"I8", at::kChar},
    {"I16", at::kShort},   {"U16", at::kUInt16},  {"I32", at::kInt},
    {"U32", at::kUInt32},  {"I64", at::kLong},    {"U64", at::kUInt64},
    {"F16", at::kHalf},    {"BF16", at::kBFloat16}, {"F32", at::kFloat},
    {"F64", at::kDouble},  {"F8_E5M2", at::kFloat8_e5m2}, {"F8_E4M3", at::kFloat8_e4m3fn},
};

const char* dtype_name(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d.name;
  fail("write_safetensors: dtype {} has no safetensors name", c10::toString(type));
}

}  // namespace

at::ScalarType safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  fail("safetensors: unknown dtype \"{}\" (expected one of BOOL, U8, I8, I16, U16, I32, U32, I64, "
       "U64, F16, BF16, F32, F64, F8_E5M2, F8_E4M3)",
       name);
}

struct SafetensorsFile::Mapping {
  void* data = nullptr;
  uint64_t size = 0;
  ~Mapping() {
    if (data) munmap(data, size);
  }
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string where = path.string();
  const int fd = ::open(where.c_str(), O_RDONLY | O_CLOEXEC);
  SDS_CHECK(fd >= 0, "safetensors: cannot open {}: {}", where, std::strerror(errno));
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const uint64_t size = stat_ok ? static_cast<uint64_t>(st.st_size) : 0;
  if (!stat_ok || size < 8) {
    ::close(fd);
    fail("safetensors: {} is {} bytes; a safetensors file has at least the 8-byte header length",
         where, size);
  }
  mapping_ = std::make_shared<Mapping>();
  // Private and writable: tensors that share this memory may be written by their users without
  // touching the file (pages are copied on write).
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  SDS_CHECK(data != MAP_FAILED, "safetensors: cannot map {}: {}", where, std::strerror(errno));
  mapping_->data = data;
  mapping_->size = size;
  const auto* bytes = static_cast<const unsigned char*>(data);

  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes, 8);
  SDS_CHECK(header_bytes <= kMaxHeaderBytes && header_bytes <= size - 8,
            "safetensors: {} declares a {}-byte header but the file has {} bytes after the length "
            "(truncated or not a safetensors file)",
            where, header_bytes, size - 8);
  data_offset_ = 8 + header_bytes;
  const uint64_t data_bytes = size - data_offset_;

  const Json header =
      parse_json(std::string(reinterpret_cast<const char*>(bytes) + 8, header_bytes), where);
  SDS_CHECK(header.is_object(), "safetensors: the header of {} is not a JSON object", where);

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      SDS_CHECK(value.is_object(), "safetensors: {}: __metadata__ is not an object", where);
      for (const auto& [k, v] : value.items()) {
        SDS_CHECK(v.is_string(), "safetensors: {}: __metadata__.{} is not a string", where, k);
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    SDS_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") &&
                  value.contains("data_offsets"),
              "safetensors: {}: entry \"{}\" needs dtype, shape and data_offsets, got {}", where,
              key, value.dump());
    SafetensorsEntry entry;
    SDS_CHECK(value["dtype"].is_string(), "safetensors: {}: \"{}\".dtype is not a string", where,
              key);
    entry.dtype = value["dtype"].get<std::string>();
    try {
      (void)safetensors_dtype(entry.dtype);
    } catch (const Error& e) {
      fail("safetensors: {}: entry \"{}\": {}", where, key, e.what());
    }
    const Json& shape = value["shape"];
    SDS_CHECK(shape.is_array(), "safetensors: {}: \"{}\".shape is not an array", where, key);
    for (const Json& d : shape) {
      SDS_CHECK(d.is_number_unsigned(), "safetensors: {}: \"{}\".shape {} has a non-integer or "
                "negative size", where, key, shape.dump());
      entry.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    }
    const Json& offsets = value["data_offsets"];
    SDS_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                  offsets[1].is_number_unsigned(),
              "safetensors: {}: \"{}\".data_offsets must be [begin, end], got {}", where, key,
              offsets.dump());
    entry.begin = offsets[0].get<uint64_t>();
    entry.end = offsets[1].get<uint64_t>();
    SDS_CHECK(entry.begin <= entry.end, "safetensors: {}: \"{}\" ends ({}) before it begins ({})",
              where, key, entry.end, entry.begin);
    // The byte count, guarded against overflow by bounding it by the data size.
    uint64_t expected = at::elementSize(safetensors_dtype(entry.dtype));
    for (int64_t d : entry.shape) {
      if (d != 0 && expected > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) {
        expected = std::numeric_limits<uint64_t>::max();
        break;
      }
      expected *= static_cast<uint64_t>(d);
    }
    SDS_CHECK(entry.end - entry.begin == expected,
              "safetensors: {}: \"{}\" has {} bytes of data but its dtype {} and shape {} need {}",
              where, key, entry.end - entry.begin, entry.dtype, shape.dump(), expected);
    entries_.emplace(key, std::move(entry));
  }

  // The entries must tile the data exactly: no gaps, no overlaps, nothing past the end.
  std::vector<std::tuple<uint64_t, uint64_t, const std::string*>> order;
  for (const auto& [key, entry] : entries_) order.emplace_back(entry.begin, entry.end, &key);
  std::sort(order.begin(), order.end());
  uint64_t end = 0;
  for (const auto& [begin, entry_end, key] : order) {
    SDS_CHECK(begin == end,
              "safetensors: {}: \"{}\" starts at byte {} of the data but the previous tensor ends "
              "at {} (offsets must be contiguous)",
              where, *key, begin, end);
    end = entry_end;
  }
  SDS_CHECK(end == data_bytes,
            "safetensors: {}: the tensors cover {} bytes but the file has {} bytes of data "
            "(truncated or padded)",
            where, end, data_bytes);
}

std::vector<std::string> SafetensorsFile::keys() const {
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) keys.push_back(key);
  return keys;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& key) const {
  const auto it = entries_.find(key);
  SDS_CHECK(it != entries_.end(), "safetensors: {} has no tensor \"{}\"", path_.string(), key);
  return it->second;
}

at::Tensor SafetensorsFile::tensor(const std::string& key) const {
  const SafetensorsEntry& e = entry(key);
  const at::ScalarType type = safetensors_dtype(e.dtype);
  const auto options = at::TensorOptions().dtype(type);
  if (e.end == e.begin) return at::empty(e.shape, options);
  auto* data = static_cast<unsigned char*>(mapping_->data) + data_offset_ + e.begin;
  if (reinterpret_cast<uintptr_t>(data) % at::elementSize(type) != 0) {
    at::Tensor copy = at::empty(e.shape, options);
    std::memcpy(copy.data_ptr(), data, e.end - e.begin);
    return copy;
  }
  std::shared_ptr<Mapping> keep = mapping_;
  return at::from_blob(data, e.shape, [keep](void*) mutable { keep.reset(); }, options);
}

std::map<std::string, at::Tensor> read_safetensors(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  std::map<std::string, at::Tensor> tensors;
  for (const std::string& key : file.keys()) tensors.emplace(key, file.tensor(key));
  return tensors;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, at::Tensor>> order;
  for (const auto& [key, tensor] : tensors) {
    SDS_CHECK(tensor.defined(), "write_safetensors: tensor \"{}\" is undefined", key);
    SDS_CHECK(key != "__metadata__", "write_safetensors: \"__metadata__\" is not a tensor name");
    (void)dtype_name(tensor.scalar_type());
    order.emplace_back(key, tensor.detach().to(at::kCPU).contiguous());
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.element_size() > b.second.element_size();
  });
  Json header = Json::object();
  uint64_t offset = 0;
  for (const auto& [key, tensor] : order) {
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[key] = {{"dtype", dtype_name(tensor.scalar_type())},
                   {"shape", tensor.sizes().vec()},
                   {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(file.data(), &n, 8);
  file += text;
  file.reserve(file.size() + offset);
  for (const auto& [key, tensor] : order)
    file.append(static_cast<const char*>(tensor.data_ptr()), tensor.numel() * tensor.element_size());
  write_file_atomic(path, file);
}

}  // namespace sds::models
