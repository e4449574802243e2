#include "sds/core/io.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sds/core/checks.h"
#include "sds/core/error.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

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
  check_shape(image, "write_png image", {3, -1, -1}, "[3, H, W]");
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
  std::string png;
  stbi_write_png_to_func(
      [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
      },
      &png, w, h, 3, bytes.data_ptr<uint8_t>(), w * 3);
  SDS_CHECK(!png.empty(), "{}: PNG encoding failed", path.string());
  write_file_atomic(path, png);
}

}  // namespace sds
