#include "sds/repr/gaussian_ply.h"

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/core/io.h"

namespace sds {
namespace {

// The writer copies float32 rows straight from memory and the reader decodes with memcpy, so
// the host byte order must be the file's.
static_assert(std::endian::native == std::endian::little,
              "gaussian_ply assumes a little-endian host (binary_little_endian PLY)");

// The SH degrees the 3DGS file format (and the Inria rasteriser) supports.
constexpr int64_t kMaxShDegree = 3;

enum class PlyType { kInt8, kUint8, kInt16, kUint16, kInt32, kUint32, kFloat32, kFloat64 };

struct PlyTypeInfo {
  std::string_view name;
  PlyType type;
  uint64_t size;
};

// Both the classic names and the sized aliases of the PLY spec.
constexpr std::array<PlyTypeInfo, 16> kPlyTypes = {{
    {"char", PlyType::kInt8, 1},
    {"int8", PlyType::kInt8, 1},
    {"uchar", PlyType::kUint8, 1},
    {"uint8", PlyType::kUint8, 1},
    {"short", PlyType::kInt16, 2},
    {"int16", PlyType::kInt16, 2},
    {"ushort", PlyType::kUint16, 2},
    {"uint16", PlyType::kUint16, 2},
    {"int", PlyType::kInt32, 4},
    {"int32", PlyType::kInt32, 4},
    {"uint", PlyType::kUint32, 4},
    {"uint32", PlyType::kUint32, 4},
    {"float", PlyType::kFloat32, 4},
    {"float32", PlyType::kFloat32, 4},
    {"double", PlyType::kFloat64, 8},
    {"float64", PlyType::kFloat64, 8},
}};

std::optional<PlyTypeInfo> find_ply_type(std::string_view name) {
  for (const PlyTypeInfo& info : kPlyTypes) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

template <class T>
double load_as_double(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return static_cast<double>(value);
}

double decode(const char* p, PlyType type) {
  switch (type) {
    case PlyType::kInt8:
      return load_as_double<int8_t>(p);
    case PlyType::kUint8:
      return load_as_double<uint8_t>(p);
    case PlyType::kInt16:
      return load_as_double<int16_t>(p);
    case PlyType::kUint16:
      return load_as_double<uint16_t>(p);
    case PlyType::kInt32:
      return load_as_double<int32_t>(p);
    case PlyType::kUint32:
      return load_as_double<uint32_t>(p);
    case PlyType::kFloat32:
      return load_as_double<float>(p);
    case PlyType::kFloat64:
      return load_as_double<double>(p);
  }
  return 0.0;
}

struct PlyProperty {
  std::string name;
  PlyType type = PlyType::kFloat32;
  uint64_t size = 0;
  bool is_list = false;
  uint64_t offset = 0;  // within a row; meaningful for scalar properties only
};

struct PlyElement {
  std::string name;
  uint64_t count = 0;
  std::vector<PlyProperty> properties;
};

struct PlyHeader {
  std::vector<PlyElement> elements;
  size_t body_offset = 0;
};

// Header text goes into error messages; binary garbage must not.
std::string printable(std::string_view text, size_t max_chars = 60) {
  std::string out;
  for (char ch : text.substr(0, max_chars)) {
    const auto u = static_cast<unsigned char>(ch);
    out += (u >= 0x20 && u < 0x7f) ? ch : '?';
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

PlyHeader parse_header(const std::string& bytes, const std::string& where) {
  size_t pos = 0;
  int line_number = 0;
  // The spec ends lines with '\n'; files written on Windows add '\r', which is harmless.
  auto next_line = [&]() -> std::optional<std::string_view> {
    const size_t newline = bytes.find('\n', pos);
    if (newline == std::string::npos) return std::nullopt;
    std::string_view line(bytes.data() + pos, newline - pos);
    pos = newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  SDS_CHECK(!bytes.empty(), "{}: not a PLY file (expected the first line 'ply', got an empty file)",
            where);
  const std::optional<std::string_view> magic = next_line();
  SDS_CHECK(magic.has_value(),
            "{}: not a PLY file (expected the first line 'ply', got '{}' and no line end)", where,
            printable(bytes));
  SDS_CHECK(*magic == "ply", "{}: not a PLY file (expected the first line 'ply', got '{}')", where,
            printable(*magic));

  PlyHeader header;
  bool has_format = false;
  while (true) {
    std::optional<std::string_view> line = next_line();
    SDS_CHECK(line.has_value(),
              "{}: the PLY header has no 'end_header' line (expected a complete header; the file "
              "is truncated or not a PLY file)",
              where);
    for (char ch : *line) {
      const auto u = static_cast<unsigned char>(ch);
      SDS_CHECK(u >= 0x20 || ch == '\t',
                "{}: header line {}: expected text, got the control byte 0x{:02x}", where,
                line_number, u);
    }
    const std::vector<std::string_view> words = split_words(*line);
    SDS_CHECK(!words.empty(),
              "{}: header line {}: expected a keyword (format, element, property, comment, "
              "end_header), got an empty line",
              where, line_number);
    const std::string_view keyword = words[0];
    if (keyword == "comment" || keyword == "obj_info") continue;
    if (keyword == "end_header") {
      SDS_CHECK(words.size() == 1, "{}: header line {}: expected 'end_header', got '{}'", where,
                line_number, printable(*line));
      break;
    }
    if (keyword == "format") {
      SDS_CHECK(!has_format, "{}: header line {}: expected one 'format' line, got a second", where,
                line_number);
      SDS_CHECK(words.size() == 3,
                "{}: header line {}: expected 'format binary_little_endian 1.0', got '{}'", where,
                line_number, printable(*line));
      SDS_CHECK(words[1] == "binary_little_endian",
                "{}: PLY format '{}' is not supported (expected binary_little_endian 1.0, the "
                "3DGS format; ascii and binary_big_endian files must be converted first)",
                where, printable(words[1]));
      SDS_CHECK(words[2] == "1.0", "{}: PLY version '{}' is not supported (expected 1.0)", where,
                printable(words[2]));
      has_format = true;
      continue;
    }
    if (keyword == "element") {
      SDS_CHECK(words.size() == 3, "{}: header line {}: expected 'element NAME COUNT', got '{}'",
                where, line_number, printable(*line));
      PlyElement element;
      element.name = std::string(words[1]);
      const std::string_view count = words[2];
      const auto [end, ec] =
          std::from_chars(count.data(), count.data() + count.size(), element.count);
      SDS_CHECK(ec == std::errc() && end == count.data() + count.size(),
                "{}: header line {}: expected a non-negative element count below 2^64, got '{}'",
                where, line_number, printable(count));
      header.elements.push_back(std::move(element));
      continue;
    }
    if (keyword == "property") {
      SDS_CHECK(!header.elements.empty(),
                "{}: header line {}: expected an 'element' line before the first property", where,
                line_number);
      PlyProperty property;
      if (words.size() >= 2 && words[1] == "list") {
        SDS_CHECK(words.size() == 5,
                  "{}: header line {}: expected 'property list COUNT_TYPE ITEM_TYPE NAME', got "
                  "'{}'",
                  where, line_number, printable(*line));
        property.is_list = true;
        property.name = std::string(words[4]);
      } else {
        SDS_CHECK(words.size() == 3, "{}: header line {}: expected 'property TYPE NAME', got '{}'",
                  where, line_number, printable(*line));
        const std::optional<PlyTypeInfo> type = find_ply_type(words[1]);
        SDS_CHECK(type.has_value(),
                  "{}: header line {}: expected a PLY type (char, uchar, short, ushort, int, "
                  "uint, float, double or int8..float64), got '{}'",
                  where, line_number, printable(words[1]));
        property.type = type->type;
        property.size = type->size;
        property.name = std::string(words[2]);
      }
      header.elements.back().properties.push_back(std::move(property));
      continue;
    }
    fail(
        "{}: header line {}: expected a keyword (format, element, property, comment, obj_info, "
        "end_header), got '{}'",
        where, line_number, printable(keyword));
  }
  SDS_CHECK(has_format,
            "{}: the PLY header has no 'format' line (expected 'format binary_little_endian 1.0')",
            where);
  header.body_offset = pos;
  return header;
}

// Where one file property goes in the output tensors.
struct Column {
  const PlyProperty* property;
  size_t target;
  int64_t offset;
  int64_t stride;
};

// The one SH size per degree in 0..kMaxShDegree; nullopt for any other K.
std::optional<int64_t> sh_degree_of(int64_t coefficients) {
  for (int64_t d = 0; d <= kMaxShDegree; ++d) {
    if ((d + 1) * (d + 1) == coefficients) return d;
  }
  return std::nullopt;
}

// Detached, contiguous CPU float32 copy of `t`, checked to be finite (row named on failure).
at::Tensor to_cpu_float(const at::Tensor& t, const std::string& name) {
  check_floating(t, name);
  at::Tensor out = t.detach().to(at::kCPU, at::kFloat).contiguous();
  at::Tensor bad = at::isfinite(out).logical_not();
  if (out.dim() > 1) bad = bad.flatten(1).any(1);
  if (bad.any().item<bool>()) {
    const int64_t row = bad.nonzero()[0][0].item<int64_t>();
    fail("{}: row {} holds NaN or Inf in float32 (expected finite values)", name, row);
  }
  return out;
}

}  // namespace

void write_gaussian_ply(const std::filesystem::path& path, const GaussianTensors& g) {
  const std::string where = path.string();
  const std::string means_name = where + ": means";
  const std::string scales_name = where + ": log_scales";
  const std::string quats_name = where + ": quats";
  const std::string opacity_name = where + ": opacity_logits";
  const std::string sh_name = where + ": sh";
  check_defined(g.means, means_name);
  check_defined(g.log_scales, scales_name);
  check_defined(g.quats, quats_name);
  check_defined(g.opacity_logits, opacity_name);
  check_defined(g.sh, sh_name);
  const int64_t n = g.means.dim() > 0 ? g.means.size(0) : 0;
  check_shape(g.means, means_name, {n, 3}, "[N, 3]");
  check_shape(g.log_scales, scales_name, {n, 3}, "[N, 3] with N = means.size(0)");
  check_shape(g.quats, quats_name, {n, 4}, "[N, 4] with N = means.size(0)");
  check_shape(g.opacity_logits, opacity_name, {n}, "[N] with N = means.size(0)");
  check_shape(g.sh, sh_name, {n, -1, 3}, "[N, K, 3] with N = means.size(0)");
  const int64_t k = g.sh.size(1);
  SDS_CHECK(sh_degree_of(k).has_value(),
            "{}: expected K = (d + 1)^2 SH coefficients for a degree d in 0..{} (1, 4, 9 or 16), "
            "got K = {}",
            sh_name, kMaxShDegree, k);

  const at::Tensor means = to_cpu_float(g.means, means_name);
  const at::Tensor log_scales = to_cpu_float(g.log_scales, scales_name);
  const at::Tensor quats = to_cpu_float(g.quats, quats_name);
  const at::Tensor opacity = to_cpu_float(g.opacity_logits, opacity_name);
  const at::Tensor sh = to_cpu_float(g.sh, sh_name);

  // The Inria writer transposes shN to [N, 3, K-1] before flattening: channel-major f_rest.
  const at::Tensor f_rest = sh.slice(1, 1).transpose(1, 2).reshape({n, 3 * (k - 1)});
  const at::Tensor rows = at::cat({means, at::zeros({n, 3}, means.options()), sh.select(1, 0),
                                   f_rest, opacity.unsqueeze(1), log_scales, quats},
                                  1)
                              .contiguous();

  std::vector<std::string> names = {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"};
  for (int64_t i = 0; i < 3 * (k - 1); ++i) names.push_back("f_rest_" + std::to_string(i));
  for (const char* name :
       {"opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"}) {
    names.emplace_back(name);
  }
  SDS_CHECK(static_cast<int64_t>(names.size()) == rows.size(1),
            "{}: internal error: {} property names for {} columns", where, names.size(),
            rows.size(1));

  std::string bytes =
      "ply\nformat binary_little_endian 1.0\nelement vertex " + std::to_string(n) + "\n";
  for (const std::string& name : names) bytes += "property float " + name + "\n";
  bytes += "end_header\n";
  const size_t header_size = bytes.size();
  const size_t data_size = static_cast<size_t>(rows.numel()) * sizeof(float);
  bytes.resize(header_size + data_size);
  if (data_size > 0) std::memcpy(bytes.data() + header_size, rows.data_ptr<float>(), data_size);
  write_file_atomic(path, bytes);
}

GaussianTensors read_gaussian_ply(const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::string bytes = read_text_file(path);
  const PlyHeader header = parse_header(bytes, where);

  SDS_CHECK(!header.elements.empty(),
            "{}: expected an element 'vertex' in the PLY header, got no elements", where);
  const PlyElement& vertex = header.elements.front();
  SDS_CHECK(vertex.name == "vertex", "{}: expected the first PLY element to be 'vertex', got '{}'",
            where, printable(vertex.name));
  for (size_t e = 1; e < header.elements.size(); ++e) {
    const PlyElement& other = header.elements[e];
    SDS_CHECK(other.name != "vertex", "{}: expected one element 'vertex', got a second", where);
    // Only empty elements can be skipped without decoding their (possibly list) rows.
    SDS_CHECK(other.count == 0,
              "{}: expected only the element 'vertex' (further elements must be empty), got "
              "element '{}' with {} entries",
              where, printable(other.name), other.count);
  }

  // Property offsets within a row, and a name index that rejects duplicates.
  std::vector<PlyProperty> properties = vertex.properties;
  std::unordered_map<std::string, size_t> by_name;
  uint64_t row_size = 0;
  for (size_t i = 0; i < properties.size(); ++i) {
    PlyProperty& property = properties[i];
    SDS_CHECK(!property.is_list,
              "{}: vertex property '{}' is a list (expected scalar properties only, as in 3DGS "
              "files)",
              where, printable(property.name));
    SDS_CHECK(by_name.emplace(property.name, i).second,
              "{}: vertex property '{}' is declared twice (expected unique names)", where,
              printable(property.name));
    property.offset = row_size;
    row_size += property.size;
  }
  auto required = [&](const std::string& name) -> const PlyProperty& {
    const auto it = by_name.find(name);
    SDS_CHECK(it != by_name.end(),
              "{}: missing vertex property '{}' (expected x y z, f_dc_0..2, opacity, scale_0..2, "
              "rot_0..3 and optionally f_rest_*)",
              where, name);
    return properties[it->second];
  };

  // f_rest_* by numeric suffix: Inria-lineage loaders sort them, so header order means nothing.
  constexpr std::string_view kRestPrefix = "f_rest_";
  std::vector<std::pair<uint64_t, const PlyProperty*>> rest;
  for (const PlyProperty& property : properties) {
    const std::string_view name = property.name;
    if (name.substr(0, kRestPrefix.size()) != kRestPrefix) continue;
    const std::string_view suffix = name.substr(kRestPrefix.size());
    uint64_t index = 0;
    const auto [end, ec] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), index);
    // The round trip through to_string also rejects signs and leading zeros ("f_rest_01").
    SDS_CHECK(ec == std::errc() && end == suffix.data() + suffix.size() &&
                  std::to_string(index) == suffix,
              "{}: vertex property '{}': expected f_rest_ followed by a decimal index", where,
              printable(name));
    rest.emplace_back(index, &property);
  }
  const auto rest_count = static_cast<int64_t>(rest.size());
  SDS_CHECK(rest_count % 3 == 0 && sh_degree_of(rest_count / 3 + 1).has_value(),
            "{}: expected 3((d + 1)^2 - 1) f_rest properties for an SH degree d in 0..{} (0, 9, "
            "24 or 45), got {}",
            where, kMaxShDegree, rest_count);
  std::vector<const PlyProperty*> rest_by_index(rest.size(), nullptr);
  for (const auto& [index, property] : rest) {
    SDS_CHECK(index < rest.size() && rest_by_index[index] == nullptr,
              "{}: expected f_rest_0..f_rest_{} each once, got '{}'", where, rest.size() - 1,
              printable(property->name));
    rest_by_index[index] = property;
  }

  // Where each property goes: tensor (0 means, 1 log_scales, 2 quats, 3 opacity, 4 sh), the
  // element offset in row 0, and the step per row.
  const int64_t k = rest_count / 3 + 1;
  std::vector<Column> columns;
  for (int64_t i = 0; i < 3; ++i) {
    columns.push_back({&required(std::string(1, "xyz"[i])), 0, i, 3});
    columns.push_back({&required("scale_" + std::to_string(i)), 1, i, 3});
    columns.push_back({&required("f_dc_" + std::to_string(i)), 4, i, k * 3});
  }
  for (int64_t i = 0; i < 4; ++i) {
    columns.push_back({&required("rot_" + std::to_string(i)), 2, i, 4});
  }
  columns.push_back({&required("opacity"), 3, 0, 1});
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t j = 1; j < k; ++j) {
      columns.push_back({rest_by_index[c * (k - 1) + (j - 1)], 4, j * 3 + c, k * 3});
    }
  }

  const uint64_t available = bytes.size() - header.body_offset;
  const uint64_t count = vertex.count;
  // Compare by division: count * row_size may overflow, and a lying count must not allocate.
  SDS_CHECK(count <= available / row_size,
            "{}: the header declares {} vertices of {} bytes, but only {} bytes of vertex data "
            "follow it (room for {} vertices; the file is truncated or the count is wrong)",
            where, count, row_size, available, available / row_size);
  SDS_CHECK(count * row_size == available,
            "{}: expected the file to end after {} vertices of {} bytes, got {} trailing bytes",
            where, count, row_size, available - count * row_size);

  const auto n = static_cast<int64_t>(count);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  GaussianTensors g;
  g.means = at::empty({n, 3}, options);
  g.log_scales = at::empty({n, 3}, options);
  g.quats = at::empty({n, 4}, options);
  g.opacity_logits = at::empty({n}, options);
  g.sh = at::empty({n, k, 3}, options);
  const std::array<float*, 5> targets = {
      g.means.data_ptr<float>(), g.log_scales.data_ptr<float>(), g.quats.data_ptr<float>(),
      g.opacity_logits.data_ptr<float>(), g.sh.data_ptr<float>()};

  const char* data = bytes.data() + header.body_offset;
  for (int64_t row = 0; row < n; ++row) {
    const char* row_data = data + row * row_size;
    for (const Column& column : columns) {
      const auto value =
          static_cast<float>(decode(row_data + column.property->offset, column.property->type));
      SDS_CHECK(std::isfinite(value),
                "{}: vertex row {}, property '{}': expected a finite float32 value, got {}", where,
                row, column.property->name, value);
      targets[column.target][column.offset + row * column.stride] = value;
    }
  }
  return g;
}

}  // namespace sds
