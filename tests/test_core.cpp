#include "testing.h"

#include "helpers.h"

#include <filesystem>
#include <fstream>

#include "sds/camera/sampler.h"
#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/guidance/guidance.h"

using Catch::Matchers::Contains;

TEST_CASE("malformed JSON names the line and column", "[core][errors]") {
  const std::string text = "{\n  \"a\": 1,\n  \"b\": [1, 2,,]\n}";
  REQUIRE_THROWS_WITH(sds::parse_json(text, "cfg.json"), Contains("cfg.json:3:"));
  REQUIRE_THROWS_AS(sds::parse_json(text, "cfg.json"), sds::Error);
}

TEST_CASE("a missing file is a clear error", "[core][errors]") {
  REQUIRE_THROWS_WITH(sds::read_json_file("/nonexistent/config.json"),
                      Contains("/nonexistent/config.json") && Contains("cannot open"));
}

TEST_CASE("ConfigReader rejects unknown keys and lists the valid ones", "[core][errors]") {
  sds::Json j = {{"lr", 0.1}, {"lerning_rate", 2}};
  sds::ConfigReader c(j, "trainer");
  CHECK(c.get("lr", 1.0) == 0.1);
  CHECK(c.get("steps", 7) == 7);
  REQUIRE_THROWS_WITH(c.finish(), Contains("lerning_rate") && Contains("lr, steps"));
}

TEST_CASE("ConfigReader reports a value of the wrong type", "[core][errors]") {
  sds::Json j = {{"steps", "many"}};
  sds::ConfigReader c(j, "trainer");
  REQUIRE_THROWS_WITH(c.get("steps", 1), Contains("trainer.steps") && Contains("string"));
}

TEST_CASE("set_json_path parses JSON values and falls back to strings", "[core]") {
  sds::Json j = {{"guidance", {{"type", "sds"}}}};
  sds::set_json_path(j, "guidance.guidance_scale", "7.5");
  sds::set_json_path(j, "prompt", "a red mug");
  sds::set_json_path(j, "camera_sampler.elevation_deg", "[0, 45]");
  CHECK(j["guidance"]["guidance_scale"].get<double>() == 7.5);
  CHECK(j["guidance"]["type"] == "sds");
  CHECK(j["prompt"] == "a red mug");
  CHECK(j["camera_sampler"]["elevation_deg"][1].get<int>() == 45);
  REQUIRE_THROWS_AS(sds::set_json_path(j, "prompt.x", "1"), sds::Error);
}

TEST_CASE("the registry builds by name and lists the known names", "[core][errors]") {
  auto sampler = sds::make<sds::CameraSampler>(sds::Json{{"type", "orbit"}, {"height", 16}});
  CHECK(sampler->height() == 16);
  REQUIRE_THROWS_WITH(sds::make<sds::CameraSampler>(sds::Json{{"type", "orbitt"}}),
                      Contains("orbitt") && Contains("known types are: grid, orbit"));
  REQUIRE_THROWS_WITH(sds::make<sds::CameraSampler>(sds::Json{{"type", "orbit"}, {"hieght", 3}}),
                      Contains("hieght"));
}

TEST_CASE("atomic writes replace the whole file and leave no temporary", "[core]") {
  auto dir = sds::test::fresh_temp_dir("atomic");
  auto path = dir / "sub" / "file.txt";
  sds::write_file_atomic(path, "first");
  sds::write_file_atomic(path, "second");
  CHECK(sds::read_text_file(path) == "second");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir / "sub")) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("write_png writes a PNG and rejects out-of-range images", "[core][errors]") {
  auto dir = sds::test::fresh_temp_dir("png");
  at::Tensor img = at::rand({3, 8, 5});
  sds::write_png(dir / "a.png", img);
  std::string bytes = sds::read_text_file(dir / "a.png");
  REQUIRE(bytes.size() > 8);
  CHECK(bytes.substr(1, 3) == "PNG");
  REQUIRE_THROWS_WITH(sds::write_png(dir / "b.png", img * 3), Contains("[0, 1]"));
  REQUIRE_THROWS_WITH(sds::write_png(dir / "c.png", at::rand({8, 8, 3})), Contains("RGBA"));
}

namespace {

// An independent PNG encoder for read_png's tests: stored (uncompressed) deflate blocks, filter
// type 0, CRC-32 and Adler-32 written out here.
uint32_t crc32(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

std::string big_endian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string chunk(const std::string& type, const std::string& data) {
  return big_endian(static_cast<uint32_t>(data.size())) + type + data +
         big_endian(crc32(type + data));
}

// `rows` holds the raw scanlines (without filter bytes) of a w x h image.
std::string handmade_png(int w, int h, int bit_depth, int color_type,
                         const std::vector<std::string>& rows) {
  std::string raw;
  for (const auto& row : rows) raw += std::string(1, '\0') + row;
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  const auto n = static_cast<uint16_t>(raw.size());
  std::string deflate = "\x78\x01";
  deflate += '\x01';  // the final block, stored
  deflate += static_cast<char>(n & 0xff);
  deflate += static_cast<char>(n >> 8);
  deflate += static_cast<char>(~n & 0xff);
  deflate += static_cast<char>((~n >> 8) & 0xff);
  deflate += raw + big_endian((b << 16) | a);
  std::string ihdr = big_endian(w) + big_endian(h);
  ihdr += static_cast<char>(bit_depth);
  ihdr += static_cast<char>(color_type);
  ihdr += std::string(3, '\0');
  return "\x89PNG\r\n\x1a\n" + chunk("IHDR", ihdr) + chunk("IDAT", deflate) + chunk("IEND", "");
}

}  // namespace

TEST_CASE("read_png decodes 8- and 16-bit PNGs with and without alpha", "[core][errors]") {
  auto dir = sds::test::fresh_temp_dir("read_png");
  // 2 x 2 RGBA, 8-bit.
  const std::vector<std::string> rgba{std::string("\x00\x10\x20\xff\x40\x50\x60\x80", 8),
                                      std::string("\xff\xfe\x01\x00\x11\x22\x33\x44", 8)};
  sds::write_file_atomic(dir / "rgba.png", handmade_png(2, 2, 8, 6, rgba));
  at::Tensor img = sds::read_png(dir / "rgba.png");
  REQUIRE(img.sizes() == at::IntArrayRef({4, 2, 2}));
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      for (int c = 0; c < 4; ++c) {
        const auto byte = static_cast<unsigned char>(rgba[y][x * 4 + c]);
        CHECK(img[c][y][x].item<float>() == Approx(byte / 255.0).margin(1e-7));
      }
    }
  }
  // 3 x 1 grey, 16-bit: three equal channels of value / 65535.
  sds::write_file_atomic(dir / "grey16.png",
                         handmade_png(3, 1, 16, 0, {std::string("\x00\x00\x80\x01\xff\xff", 6)}));
  at::Tensor grey = sds::read_png(dir / "grey16.png");
  REQUIRE(grey.sizes() == at::IntArrayRef({3, 1, 3}));
  CHECK(grey[1][0][1].item<float>() == Approx(0x8001 / 65535.0).margin(1e-7));
  CHECK(grey[2][0][2].item<float>() == 1.0f);
  CHECK(at::equal(grey[0], grey[2]));
  // Grey + alpha gives four channels.
  sds::write_file_atomic(dir / "ga.png", handmade_png(1, 1, 8, 4, {std::string("\x40\x80", 2)}));
  at::Tensor ga = sds::read_png(dir / "ga.png");
  REQUIRE(ga.size(0) == 4);
  CHECK(ga[3][0][0].item<float>() == Approx(128 / 255.0).margin(1e-7));

  // write_png's RGBA output reads back to its bytes.
  at::Tensor written = at::rand({4, 5, 7});
  sds::write_png(dir / "out.png", written);
  CHECK((sds::read_png(dir / "out.png") - written).abs().max().item<float>() <= 0.5f / 255 + 1e-6f);

  const std::string whole = handmade_png(2, 2, 8, 6, rgba);
  sds::write_file_atomic(dir / "cut.png", whole.substr(0, whole.size() / 2));
  CHECK_THROWS_WITH(sds::read_png(dir / "cut.png"), Contains("cut.png"));
  sds::write_file_atomic(dir / "text.png", "not a png");
  CHECK_THROWS_WITH(sds::read_png(dir / "text.png"), Contains("not a readable PNG"));
  CHECK_THROWS_WITH(sds::read_png(dir / "missing.png"), Contains("missing.png"));
}

TEST_CASE("tensor checks say what was expected and what came", "[core][errors]") {
  at::Tensor t = at::zeros({2, 4, 8, 8});
  REQUIRE_NOTHROW(sds::check_shape(t, "rgb", {-1, 4, -1, -1}, "[B, 4, H, W]"));
  REQUIRE_THROWS_WITH(sds::check_shape(t, "rgb", {-1, 3, -1, -1}, "[B, 3, H, W]"),
                      Contains("rgb") && Contains("[B, 3, H, W]") && Contains("[2, 4, 8, 8]"));
  REQUIRE_THROWS_WITH(sds::check_dtype(t, "rgb", at::kDouble),
                      Contains("Double") && Contains("Float"));
  REQUIRE_THROWS_WITH(sds::check_floating(t.to(at::kInt), "rgb"), Contains("Int"));
  REQUIRE_THROWS_WITH(sds::check_finite(at::full({2}, NAN), "render"), Contains("NaN"));
  REQUIRE_THROWS_WITH(sds::check_device_supported(at::empty({1}, at::Device(at::kMeta)), "x"),
                      Contains("CPU or CUDA"));
}

TEST_CASE("a CUDA tensor in a build without CUDA is an error", "[core][errors]") {
  if (sds::built_with_cuda() || !at::hasCUDA()) {
    WARN("needs a GPU machine and a build without CUDA; covered by the message check below");
    REQUIRE_NOTHROW(sds::check_device_supported(at::zeros({1}), "x"));
    return;
  }
  REQUIRE_THROWS_WITH(sds::check_device_supported(at::zeros({1}, at::kCUDA), "x"),
                      Contains("-DSDS_CUDA=ON"));
}

TEST_CASE("derived seeds are deterministic and distinct", "[core]") {
  CHECK(sds::derive_seed(1, 2, 3) == sds::derive_seed(1, 2, 3));
  CHECK(sds::derive_seed(1, 2, 3) != sds::derive_seed(1, 2, 4));
  CHECK(sds::derive_seed(1, 2, 3) != sds::derive_seed(2, 2, 3));
  auto g1 = sds::make_generator(42), g2 = sds::make_generator(42);
  CHECK(at::equal(at::randn({5}, g1), at::randn({5}, g2)));
}

TEST_CASE("devices are parsed and checked up front", "[core][errors]") {
  CHECK(sds::parse_device("cpu") == at::Device(at::kCPU));
  REQUIRE_THROWS_WITH(sds::parse_device("tpu"), Contains("\"cpu\", \"cuda\" or \"cuda:N\""));
  REQUIRE_THROWS_WITH(sds::parse_device("cuda:x"), Contains("cuda:x"));
  if (!sds::test::cuda_available()) {
    // Without a GPU (or a CUDA build) "cuda" names what is missing instead of failing later.
    REQUIRE_THROWS_WITH(sds::parse_device("cuda"),
                        Contains("no CUDA device") || Contains("no CUDA kernels"));
  } else {
    REQUIRE_THROWS_WITH(sds::parse_device("cuda:99"), Contains("CUDA device(s)"));
  }
}

TEST_CASE("value checks run on the CPU always and on a device only in debug mode", "[core]") {
  const at::Tensor bad = at::full({3}, NAN);
  const bool before = sds::debug_checks();
  sds::set_debug_checks(false);
  CHECK(sds::value_checks_enabled(bad));
  REQUIRE_THROWS_WITH(sds::check_finite(bad, "x"), Contains("NaN or Inf"));
  sds::set_debug_checks(true);
  CHECK(sds::debug_checks());
  sds::set_debug_checks(before);
}

TEST_CASE("a fixed-size config array must have exactly its size", "[core][errors]") {
  sds::Json j = {{"range", {0, 30, 60}}, {"pair", {1, 2}}, {"scalar", 3}};
  sds::ConfigReader c(j, "camera_sampler");
  REQUIRE_THROWS_WITH(
      (c.get<std::array<double, 2>>("range", {0, 0})),
      Contains("camera_sampler.range") && Contains("array of 2 values") && Contains("[0,30,60]"));
  CHECK((c.get<std::array<double, 2>>("pair", {0, 0})) == std::array<double, 2>{1, 2});
  REQUIRE_THROWS_WITH((c.get<std::array<double, 2>>("scalar", {0, 0})),
                      Contains("array of 2 values"));
}

TEST_CASE("draw_normal draws on the generator's device and returns on the tensor's", "[core]") {
  at::Generator a = sds::make_generator(7), b = sds::make_generator(7);
  const at::Tensor like = at::zeros({2}, at::kDouble);
  const at::Tensor x = sds::draw_normal({4, 3}, a, like);
  CHECK(x.scalar_type() == at::kDouble);
  CHECK(x.sizes() == at::IntArrayRef({4, 3}));
  // The same seed, the same numbers; they are N(0, 1) draws of torch's CPU generator.
  CHECK(at::equal(x, at::randn({4, 3}, b, at::kDouble)));
}
