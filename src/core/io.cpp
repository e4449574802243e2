#include "sds/core/io.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sds/core/checks.h"
#include "sds/core/error.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

namespace sds {

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  SDS_CHECK(in.good(), "{}: cannot open file (expected an existing, readable file)",
            path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file_atomic(const std::filesystem::path& path, const std::string& bytes) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  // The pid keeps concurrent writers of the same file from sharing a temporary.
  std::filesystem::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SDS_CHECK(out.good(), "{}: cannot open for writing", tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    SDS_CHECK(out.good(), "{}: write failed", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  SDS_CHECK(!ec, "{}: cannot rename into place: {}", path.string(), ec.message());
}

void write_png(const std::filesystem::path& path, const at::Tensor& image) {
  check_shape(image, "write_png image", {-1, -1, -1}, "[3 or 4, H, W]");
  SDS_CHECK(image.size(0) == 3 || image.size(0) == 4,
            "write_png image: expected 3 (RGB) or 4 (RGBA) channels, got {}", image.size(0));
  at::Tensor img = image.detach().to(at::kCPU, at::kFloat);
  check_finite(img, "write_png image");
  SDS_CHECK(img.min().item<float>() >= -1e-4f && img.max().item<float>() <= 1.0f + 1e-4f,
            "write_png image: expected values in [0, 1], got [{}, {}]", img.min().item<float>(),
            img.max().item<float>());
  at::Tensor bytes = (img.clamp(0, 1) * 255.0f + 0.5f)
                         .to(at::kByte)
                         .permute({1, 2, 0})
                         .contiguous();
  const int h = static_cast<int>(bytes.size(0)), w = static_cast<int>(bytes.size(1));
  const int channels = static_cast<int>(bytes.size(2));
  std::string png;
  stbi_write_png_to_func(
      [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
      },
      &png, w, h, channels, bytes.data_ptr<uint8_t>(), w * channels);
  SDS_CHECK(!png.empty(), "{}: PNG encoding failed", path.string());
  write_file_atomic(path, png);
}

at::Tensor read_png(const std::filesystem::path& path) {
  const std::string bytes = read_text_file(path);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, channels = 0;
  SDS_CHECK(stbi_info_from_memory(data, size, &w, &h, &channels) == 1,
            "{}: not a readable PNG ({})", path.string(), stbi_failure_reason());
  SDS_CHECK(w >= 1 && h >= 1 && w <= 8192 && h <= 8192,
            "{}: expected a PNG of 1 to 8192 pixels a side, got {} x {}", path.string(), w, h);
  const int out_channels = channels == 2 || channels == 4 ? 4 : 3;
  const bool wide = stbi_is_16_bit_from_memory(data, size) == 1;
  at::Tensor image;
  if (wide) {
    stbi_us* pixels = stbi_load_16_from_memory(data, size, &w, &h, &channels, out_channels);
    SDS_CHECK(pixels != nullptr, "{}: PNG decoding failed ({})", path.string(),
              stbi_failure_reason());
    image = at::from_blob(pixels, {h, w, out_channels}, at::kUInt16).to(at::kFloat) / 65535.0;
    stbi_image_free(pixels);
  } else {
    stbi_uc* pixels = stbi_load_from_memory(data, size, &w, &h, &channels, out_channels);
    SDS_CHECK(pixels != nullptr, "{}: PNG decoding failed ({})", path.string(),
              stbi_failure_reason());
    image = at::from_blob(pixels, {h, w, out_channels}, at::kByte).to(at::kFloat) / 255.0;
    stbi_image_free(pixels);
  }
  return image.permute({2, 0, 1}).contiguous();
}

}  // namespace sds
