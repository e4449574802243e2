#pragma once
// Files: reads that fail clearly, writes that are atomic (write a temporary, then rename), PNG.

#include <ATen/ATen.h>

#include <filesystem>
#include <string>

namespace sds {

/// The whole file as a string; a missing or unreadable file is an sds::Error.
std::string read_text_file(const std::filesystem::path& path);

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a part.
/// Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

/// Writes an image `[3, H, W]` (RGB) or `[4, H, W]` (RGBA, straight alpha), float with values
/// in [0, 1], as an 8-bit PNG, atomically. Values outside [0, 1] are an sds::Error.
void write_png(const std::filesystem::path& path, const at::Tensor& image);

/// Reads an 8- or 16-bit PNG as float32 `[C, H, W]` in [0, 1], C = 3 (RGB, grey) or 4 (with
/// alpha). A missing, unreadable or malformed file is an sds::Error naming it.
at::Tensor read_png(const std::filesystem::path& path);

}  // namespace sds
