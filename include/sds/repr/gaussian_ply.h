#pragma once
// Gaussian splats as 3DGS PLY files: the Inria layout that splat viewers, gsplat and
// DreamGaussian read and write.

#include <filesystem>

#include "sds/repr/gaussian_tensors.h"

namespace sds {

/// Writes `g` as a binary little-endian PLY with one element `vertex` of N rows and these float32
/// properties, in this order (the Inria / DreamGaussian `save_ply` layout):
///   x y z | nx ny nz (zeros) | f_dc_0..2 (raw DC coefficient of R, G, B) |
///   f_rest_0..f_rest_{3(K-1)-1}, channel-major: f_rest_{c(K-1)+k-1} = sh[:, k, c] (none for
///   degree 0) | opacity (logit) | scale_0..2 (log) | rot_0..3 (w, x, y, z).
/// The tensors may live on any device, require grad or be strided; float64 is narrowed to
/// float32. Throws sds::Error, writing nothing, on inconsistent shapes, an SH size K that is not
/// (d + 1)^2 for a degree d in 0..3, a non-floating dtype, or a value that is not finite in
/// float32 (gsplat's exporter silently drops such rows; we refuse). The write is atomic.
void write_gaussian_ply(const std::filesystem::path& path, const GaussianTensors& g);

/// Reads a 3DGS PLY file: binary little-endian 1.0 only (ascii and big-endian are an sds::Error
/// saying so), one element `vertex` (further elements must be empty), scalar properties of any
/// PLY numeric type in any order. Required: x y z, f_dc_0..2, opacity, scale_0..2, rot_0..3, and
/// f_rest_0..f_rest_{3((d+1)^2-1)-1} for a degree d in 0..3, matched by numeric suffix, not
/// header order. nx ny nz and unknown properties are ignored. Returns CPU float32 tensors with sh
/// as [N, K, 3] (coefficient-major). Throws sds::Error naming the file on a malformed header, a
/// vertex count that does not match the bytes that follow, trailing bytes, or a value that is not
/// finite in float32 (naming its row and property).
GaussianTensors read_gaussian_ply(const std::filesystem::path& path);

}  // namespace sds
