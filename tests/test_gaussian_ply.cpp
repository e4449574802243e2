#include "testing.h"

#include "helpers.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/rng.h"
#include "sds/repr/gaussian_ply.h"

using Catch::Matchers::Contains;

namespace {

sds::GaussianTensors random_gaussians(int64_t n, int64_t degree, uint64_t seed) {
  at::Generator gen = sds::make_generator(seed);
  const int64_t k = (degree + 1) * (degree + 1);
  sds::GaussianTensors g;
  g.means = at::randn({n, 3}, gen);
  g.log_scales = at::randn({n, 3}, gen) - 3.0;
  g.quats = at::randn({n, 4}, gen);
  g.opacity_logits = at::randn({n}, gen);
  g.sh = at::randn({n, k, 3}, gen);
  return g;
}

// The Inria property order for an SH degree.
std::vector<std::string> inria_names(int64_t degree) {
  const int64_t k = (degree + 1) * (degree + 1);
  std::vector<std::string> names = {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"};
  for (int64_t i = 0; i < 3 * (k - 1); ++i) names.push_back("f_rest_" + std::to_string(i));
  for (const char* name :
       {"opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"}) {
    names.emplace_back(name);
  }
  return names;
}

// Everything up to and including "end_header\n".
std::string header_of(const std::string& bytes) {
  const size_t end = bytes.find("end_header\n");
  REQUIRE(end != std::string::npos);
  return bytes.substr(0, end + std::string("end_header\n").size());
}

template <class T>
void append_raw(std::string& out, T value) {
  char buffer[sizeof(T)];
  std::memcpy(buffer, &value, sizeof(T));
  out.append(buffer, sizeof(T));
}

void append_as(std::string& out, const std::string& type, double value) {
  if (type == "float") {
    append_raw(out, static_cast<float>(value));
  } else if (type == "double") {
    append_raw(out, value);
  } else if (type == "uchar") {
    append_raw(out, static_cast<uint8_t>(value));
  } else if (type == "short") {
    append_raw(out, static_cast<int16_t>(value));
  } else if (type == "int") {
    append_raw(out, static_cast<int32_t>(value));
  } else {
    FAIL("test helper: unknown type " << type);
  }
}

struct Prop {
  std::string type;
  std::string name;
};

// A hand-built binary little-endian PLY: `extra_header` lines go after the vertex properties.
std::string build_ply(const std::vector<Prop>& props, int64_t n,
                      const std::function<double(int64_t, const std::string&)>& value,
                      const std::string& extra_header = "",
                      const std::string& format = "binary_little_endian 1.0") {
  std::string out =
      "ply\nformat " + format + "\ncomment hand-built\nelement vertex " + std::to_string(n) + "\n";
  for (const Prop& p : props) out += "property " + p.type + " " + p.name + "\n";
  out += extra_header + "end_header\n";
  for (int64_t row = 0; row < n; ++row) {
    for (const Prop& p : props) append_as(out, p.type, value(row, p.name));
  }
  return out;
}

std::vector<Prop> float_props(const std::vector<std::string>& names) {
  std::vector<Prop> props;
  for (const std::string& name : names) props.push_back({"float", name});
  return props;
}

// A small deterministic value per (row, property), exact in float32.
double some_value(int64_t row, const std::string& name) {
  return static_cast<double>(row) * 0.25 + static_cast<double>(std::hash<std::string>{}(name) % 64);
}

std::vector<Prop> without(std::vector<Prop> props, const std::string& name) {
  props.erase(
      std::remove_if(props.begin(), props.end(), [&](const Prop& p) { return p.name == name; }),
      props.end());
  return props;
}

// Reads `bytes` from a file; the REQUIRE fails on anything but sds::Error.
void require_rejected(const std::filesystem::path& path, const std::string& bytes) {
  sds::write_file_atomic(path, bytes);
  REQUIRE_THROWS_AS(sds::read_gaussian_ply(path), sds::Error);
}

void require_consistent_and_finite(const sds::GaussianTensors& g) {
  const int64_t n = g.size();
  REQUIRE(g.means.sizes() == at::IntArrayRef({n, 3}));
  REQUIRE(g.log_scales.sizes() == at::IntArrayRef({n, 3}));
  REQUIRE(g.quats.sizes() == at::IntArrayRef({n, 4}));
  REQUIRE(g.opacity_logits.sizes() == at::IntArrayRef({n}));
  REQUIRE(g.sh.dim() == 3);
  REQUIRE(g.sh.size(0) == n);
  REQUIRE(g.sh.size(2) == 3);
  const int64_t k = g.sh.size(1);
  REQUIRE((k == 1 || k == 4 || k == 9 || k == 16));
  for (const at::Tensor& t : {g.means, g.log_scales, g.quats, g.opacity_logits, g.sh}) {
    REQUIRE(t.scalar_type() == at::kFloat);
    REQUIRE(at::isfinite(t).all().item<bool>());
  }
}

}  // namespace

TEST_CASE("a Gaussian PLY round trip is bit-exact for SH degrees 0, 1 and 3", "[repr][ply]") {
  const auto dir = sds::test::fresh_temp_dir("ply_round_trip");
  for (int64_t degree : {0, 1, 3}) {
    CAPTURE(degree);
    const sds::GaussianTensors g = random_gaussians(11, degree, 100 + degree);
    const auto path = dir / ("d" + std::to_string(degree) + ".ply");
    sds::write_gaussian_ply(path, g);
    const sds::GaussianTensors back = sds::read_gaussian_ply(path);
    REQUIRE(back.size() == 11);
    CHECK(back.sh.size(1) == (degree + 1) * (degree + 1));
    CHECK(at::equal(back.means, g.means));
    CHECK(at::equal(back.log_scales, g.log_scales));
    CHECK(at::equal(back.quats, g.quats));
    CHECK(at::equal(back.opacity_logits, g.opacity_logits));
    CHECK(at::equal(back.sh, g.sh));

    const auto again = dir / ("d" + std::to_string(degree) + "_again.ply");
    sds::write_gaussian_ply(again, back);
    CHECK(sds::read_text_file(again) == sds::read_text_file(path));
    // 62 floats per row at degree 3, 17 at degree 0.
    const auto floats = static_cast<int64_t>(inria_names(degree).size());
    CHECK(sds::read_text_file(path).size() ==
          header_of(sds::read_text_file(path)).size() + 11 * floats * 4);
  }
}

TEST_CASE("write_gaussian_ply takes float64, strided and grad-requiring tensors, and zero rows",
          "[repr][ply]") {
  const auto dir = sds::test::fresh_temp_dir("ply_inputs");
  const sds::GaussianTensors g = random_gaussians(5, 2, 7);
  sds::GaussianTensors wide;
  wide.means = g.means.to(at::kDouble).requires_grad_(true);
  wide.log_scales = g.log_scales.t().contiguous().t();  // same values, column-major strides
  REQUIRE_FALSE(wide.log_scales.is_contiguous());
  wide.quats = g.quats;
  wide.opacity_logits = g.opacity_logits;
  wide.sh = g.sh;
  sds::write_gaussian_ply(dir / "wide.ply", wide);
  const sds::GaussianTensors back = sds::read_gaussian_ply(dir / "wide.ply");
  CHECK(back.means.scalar_type() == at::kFloat);
  CHECK(at::equal(back.means, g.means));
  CHECK(at::equal(back.log_scales, g.log_scales));
  CHECK(at::equal(back.sh, g.sh));
  CHECK(back.sh.size(1) == 9);

  const sds::GaussianTensors empty = random_gaussians(0, 1, 8);
  sds::write_gaussian_ply(dir / "empty.ply", empty);
  const sds::GaussianTensors none = sds::read_gaussian_ply(dir / "empty.ply");
  CHECK(none.size() == 0);
  CHECK(none.sh.sizes() == at::IntArrayRef({0, 4, 3}));
}

TEST_CASE("write_gaussian_ply rejects inconsistent, unsupported and non-finite tensors",
          "[repr][ply][errors]") {
  const auto dir = sds::test::fresh_temp_dir("ply_write_errors");
  const auto path = dir / "out.ply";
  auto check_rejected = [&](const sds::GaussianTensors& g) {
    REQUIRE_THROWS_AS(sds::write_gaussian_ply(path, g), sds::Error);
    CHECK_FALSE(std::filesystem::exists(path));
  };
  const sds::GaussianTensors good = random_gaussians(4, 1, 9);

  sds::GaussianTensors g = good;
  g.quats = at::randn({3, 4});
  check_rejected(g);
  g = good;
  g.sh = at::randn({4, 5, 3});  // K = 5 is no degree
  check_rejected(g);
  g = good;
  g.sh = at::randn({4, 25, 3});  // degree 4: beyond the file format's 0..3
  check_rejected(g);
  g = good;
  g.opacity_logits = at::randn({4, 1});
  check_rejected(g);
  g = good;
  g.means = at::ones({4, 3}, at::kInt);
  check_rejected(g);
  g = good;
  g.log_scales = at::Tensor();
  check_rejected(g);
  g = good;
  g.sh = good.sh.clone();
  g.sh[2][3][1] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(sds::write_gaussian_ply(path, g), Contains("sh") && Contains("row 2"));
  g = good;
  g.means = good.means.to(at::kDouble);
  g.means[1][0] = 1e300;  // finite in float64, Inf in float32
  check_rejected(g);
}

TEST_CASE("a degree-1 PLY has the Inria header and channel-major f_rest", "[repr][ply]") {
  const auto dir = sds::test::fresh_temp_dir("ply_layout");
  sds::GaussianTensors g = random_gaussians(7, 1, 3);
  g.sh[2][3][1] = 42.5f;  // row 2, coefficient 3, green
  sds::write_gaussian_ply(dir / "g.ply", g);
  const std::string bytes = sds::read_text_file(dir / "g.ply");
  const std::string header = header_of(bytes);

  std::vector<std::string> lines;
  for (size_t start = 0; start < header.size();) {
    const size_t end = header.find('\n', start);
    lines.push_back(header.substr(start, end - start));
    start = end + 1;
  }
  REQUIRE(lines.size() >= 4);
  CHECK(lines[0] == "ply");
  CHECK(lines[1] == "format binary_little_endian 1.0");
  CHECK(lines[2] == "element vertex 7");
  CHECK(lines.back() == "end_header");
  std::vector<std::string> names;
  for (size_t i = 3; i + 1 < lines.size(); ++i) {
    const std::string prefix = "property float ";
    REQUIRE(lines[i].rfind(prefix, 0) == 0);
    names.push_back(lines[i].substr(prefix.size()));
  }
  const std::vector<std::string> expected = {
      "x",        "y",        "z",        "nx",       "ny",       "nz",       "f_dc_0",
      "f_dc_1",   "f_dc_2",   "f_rest_0", "f_rest_1", "f_rest_2", "f_rest_3", "f_rest_4",
      "f_rest_5", "f_rest_6", "f_rest_7", "f_rest_8", "opacity",  "scale_0",  "scale_1",
      "scale_2",  "rot_0",    "rot_1",    "rot_2",    "rot_3"};
  CHECK(names == expected);

  constexpr int64_t kColumns = 26;
  REQUIRE(bytes.size() == header.size() + 7 * kColumns * sizeof(float));
  std::vector<float> raw(7 * kColumns);
  std::memcpy(raw.data(), bytes.data() + header.size(), raw.size() * sizeof(float));
  auto at_ = [&](int64_t row, int64_t column) { return raw[row * kColumns + column]; };
  // f_rest_{c(K-1) + k-1} for c = green (1), k = 3, K = 4: f_rest_5, column 9 + 5.
  CHECK(at_(2, 14) == 42.5f);
  for (int64_t n = 0; n < 7; ++n) {
    for (int64_t c = 0; c < 3; ++c) {
      CHECK(at_(n, c) == g.means[n][c].item<float>());
      CHECK(at_(n, 3 + c) == 0.0f);
      CHECK(at_(n, 6 + c) == g.sh[n][0][c].item<float>());
      for (int64_t k = 1; k < 4; ++k) {
        CHECK(at_(n, 9 + c * 3 + (k - 1)) == g.sh[n][k][c].item<float>());
      }
      CHECK(at_(n, 19 + c) == g.log_scales[n][c].item<float>());
    }
    CHECK(at_(n, 18) == g.opacity_logits[n].item<float>());
    for (int64_t q = 0; q < 4; ++q) CHECK(at_(n, 22 + q) == g.quats[n][q].item<float>());
  }
}

TEST_CASE("a PLY in another property order, with mixed types and extras, reads correctly",
          "[repr][ply]") {
  const auto dir = sds::test::fresh_temp_dir("ply_hand_built");
  // No nx/ny/nz (as gsplat writes), an unknown property, f_rest out of numeric order, x as
  // double, opacity as short, and an empty face element with a list property after the vertices.
  std::vector<Prop> props = {
      {"float", "rot_2"},    {"float", "f_rest_7"}, {"double", "x"},       {"float", "f_rest_0"},
      {"short", "opacity"},  {"uchar", "label"},    {"float", "scale_1"},  {"float", "f_rest_3"},
      {"float", "f_dc_2"},   {"float", "y"},        {"float", "f_rest_8"}, {"float", "rot_0"},
      {"float", "f_dc_0"},   {"float", "f_rest_1"}, {"float", "z"},        {"float", "scale_0"},
      {"float", "f_rest_6"}, {"float", "rot_3"},    {"int", "segment"},    {"float", "f_rest_2"},
      {"float", "f_dc_1"},   {"float", "scale_2"},  {"float", "f_rest_5"}, {"float", "rot_1"},
      {"float", "f_rest_4"}};
  auto value = [](int64_t row, const std::string& name) {
    return name == "opacity" ? -3.0 - static_cast<double>(row) : some_value(row, name);
  };
  const std::string bytes =
      build_ply(props, 5, value,
                "obj_info made by hand\nelement face 0\nproperty list uchar int "
                "vertex_indices\n");
  sds::write_file_atomic(dir / "h.ply", bytes);
  const sds::GaussianTensors g = sds::read_gaussian_ply(dir / "h.ply");
  require_consistent_and_finite(g);
  REQUIRE(g.size() == 5);
  REQUIRE(g.sh.size(1) == 4);
  for (int64_t n = 0; n < 5; ++n) {
    for (int64_t c = 0; c < 3; ++c) {
      CHECK(g.means[n][c].item<float>() == static_cast<float>(value(n, std::string(1, "xyz"[c]))));
      CHECK(g.log_scales[n][c].item<float>() ==
            static_cast<float>(value(n, "scale_" + std::to_string(c))));
      CHECK(g.sh[n][0][c].item<float>() ==
            static_cast<float>(value(n, "f_dc_" + std::to_string(c))));
      for (int64_t k = 1; k < 4; ++k) {
        const std::string rest = "f_rest_" + std::to_string(c * 3 + (k - 1));
        CHECK(g.sh[n][k][c].item<float>() == static_cast<float>(value(n, rest)));
      }
    }
    for (int64_t q = 0; q < 4; ++q) {
      CHECK(g.quats[n][q].item<float>() ==
            static_cast<float>(value(n, "rot_" + std::to_string(q))));
    }
    CHECK(g.opacity_logits[n].item<float>() == static_cast<float>(-3 - n));
  }
}

TEST_CASE("malformed Gaussian PLY files are sds::Errors that say what was wrong",
          "[repr][ply][errors]") {
  const auto dir = sds::test::fresh_temp_dir("ply_malformed");
  const auto path = dir / "bad.ply";
  const std::vector<Prop> props = float_props(inria_names(1));
  const std::string valid = build_ply(props, 3, some_value);
  sds::write_file_atomic(path, valid);
  REQUIRE(sds::read_gaussian_ply(path).size() == 3);

  SECTION("missing file") {
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(dir / "absent.ply"),
                        Contains("absent.ply") && Contains("cannot open"));
    REQUIRE_THROWS_AS(sds::read_gaussian_ply(dir / "absent.ply"), sds::Error);
  }
  SECTION("not a PLY") {
    require_rejected(path, "hello world\nthis is text\n");
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("bad.ply") && Contains("not a PLY"));
    require_rejected(path, "");
  }
  SECTION("ascii and big-endian formats name the supported one") {
    require_rejected(path, build_ply(props, 3, some_value, "", "ascii 1.0"));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path),
                        Contains("ascii") && Contains("binary_little_endian 1.0"));
    require_rejected(path, build_ply(props, 3, some_value, "", "binary_big_endian 1.0"));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("binary_big_endian"));
  }
  SECTION("missing a required property") {
    for (const char* name : {"x", "f_dc_1", "opacity", "scale_2", "rot_3"}) {
      CAPTURE(name);
      require_rejected(path, build_ply(without(props, name), 3, some_value));
      REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains(std::string("'") + name + "'"));
    }
  }
  SECTION("a list property in the vertex element") {
    require_rejected(path,
                     build_ply(props, 3, some_value, "property list uchar int vertex_indices\n"));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path),
                        Contains("vertex_indices") && Contains("list"));
  }
  SECTION("wrong f_rest count") {
    require_rejected(path, build_ply(without(props, "f_rest_8"), 3, some_value));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("got 8"));
    std::vector<Prop> five = float_props(inria_names(0));
    for (int i = 0; i < 5; ++i) five.push_back({"float", "f_rest_" + std::to_string(i)});
    require_rejected(path, build_ply(five, 3, some_value));
  }
  SECTION("gap or bad suffix in the f_rest indices") {
    std::vector<Prop> gap = without(props, "f_rest_4");
    gap.push_back({"float", "f_rest_9"});
    require_rejected(path, build_ply(gap, 3, some_value));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("f_rest_9"));
    std::vector<Prop> padded = without(props, "f_rest_4");
    padded.push_back({"float", "f_rest_04"});
    require_rejected(path, build_ply(padded, 3, some_value));
  }
  SECTION("a vertex count larger than the data") {
    std::string bigger = valid;
    bigger.replace(bigger.find("element vertex 3"), 16, "element vertex 4");
    require_rejected(path, bigger);
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("declares 4 vertices"));
  }
  SECTION("trailing garbage") {
    require_rejected(path, valid + "xyz");
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("3 trailing bytes"));
  }
  SECTION("a NaN value names its row and property") {
    auto value = [](int64_t row, const std::string& name) {
      return row == 2 && name == "scale_1" ? std::nan("") : some_value(row, name);
    };
    require_rejected(path, build_ply(props, 3, value));
    REQUIRE_THROWS_WITH(sds::read_gaussian_ply(path), Contains("row 2") && Contains("scale_1"));
    auto huge = [](int64_t row, const std::string& name) {
      return name == "x" ? 1e300 : some_value(row, name);
    };
    std::vector<Prop> as_double = props;
    as_double[0].type = "double";
    require_rejected(path, build_ply(as_double, 3, huge));  // finite double, Inf as float32
  }
  SECTION("absurd and unparsable vertex counts") {
    for (const char* count : {"1000000000000000000", "18446744073709551615",
                              "99999999999999999999999", "-1", "3x", "0x10"}) {
      CAPTURE(count);
      std::string bad = valid;
      bad.replace(bad.find("element vertex 3"), 16, std::string("element vertex ") + count);
      require_rejected(path, bad);
    }
  }
  SECTION("other header defects") {
    auto replaced = [&](const std::string& from, const std::string& to) {
      std::string out = valid;
      out.replace(out.find(from), from.size(), to);
      return out;
    };
    require_rejected(path, replaced("end_header\n", "end_headers\n"));             // never ends
    require_rejected(path, replaced("property float y\n", "property float x\n"));  // duplicate
    require_rejected(path, replaced("property float y\n", "property half y\n"));   // unknown type
    require_rejected(path, replaced("element vertex", "element point"));
    require_rejected(path, replaced("format binary_little_endian 1.0\n", ""));
    require_rejected(path, replaced("1.0\n", "2.0\n"));
    require_rejected(path, replaced("end_header\n", "element face 1\nend_header\n"));
  }
}

TEST_CASE("truncated and randomly corrupted PLY files read or fail with sds::Error only",
          "[repr][ply][errors]") {
  const auto dir = sds::test::fresh_temp_dir("ply_fuzz");
  const auto path = dir / "fuzz.ply";
  sds::write_gaussian_ply(path, random_gaussians(7, 1, 11));
  const std::string valid = sds::read_text_file(path);
  const size_t header_size = header_of(valid).size();
  REQUIRE(sds::read_gaussian_ply(path).size() == 7);

  for (size_t length = 0; length < valid.size(); ++length) {
    CAPTURE(length);
    require_rejected(path, valid.substr(0, length));
  }

  std::mt19937_64 rng(20240607);
  auto uniform = [&](size_t below) { return static_cast<size_t>(rng() % below); };
  int read_ok = 0, rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    CAPTURE(trial);
    std::string bytes = valid;
    const size_t edits = 1 + uniform(3);
    for (size_t e = 0; e < edits && !bytes.empty(); ++e) {
      const auto byte = static_cast<char>(uniform(256));
      const size_t kind = uniform(8);
      if (kind < 4) {  // the body, where most flips leave a readable file
        if (bytes.size() > header_size)
          bytes[header_size + uniform(bytes.size() - header_size)] = byte;
      } else if (kind < 6) {  // the header, where every byte is structure
        bytes[uniform(std::min(header_size, bytes.size()))] = byte;
      } else if (kind == 6) {
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(uniform(bytes.size() + 1)), byte);
      } else {
        bytes.erase(uniform(bytes.size()), 1 + uniform(4));
      }
    }
    sds::write_file_atomic(path, bytes);
    try {
      const sds::GaussianTensors g = sds::read_gaussian_ply(path);
      require_consistent_and_finite(g);
      ++read_ok;
    } catch (const sds::Error&) {
      ++rejected;
    }
  }
  // Both outcomes occur, so the corruptions reach past the first checks.
  CHECK(read_ok > 200);
  CHECK(rejected > 200);
}
