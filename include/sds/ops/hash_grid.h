#pragma once
// The multiresolution hash-grid encoding of instant-ngp, with tiny-cuda-nn's conventions (level
// scales, dense and hashed levels, the coherent prime hash, parameter layout), fused and twice
// differentiable.

#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace sds::ops {

/// The encoding's settings, with tiny-cuda-nn's "HashGrid" JSON names and defaults.
struct HashGridOptions {
  int64_t n_levels = 16;             ///< L: grid levels, 1..32
  int64_t n_features_per_level = 2;  ///< F: features per level, 1, 2, 4 or 8
  int64_t log2_hashmap_size = 19;    ///< log2 T: entries of a hashed level, 4..24
  int64_t base_resolution = 16;      ///< N0: vertices per axis of the coarsest level, >= 2
  double per_level_scale = 2.0;      ///< b: resolution growth from one level to the next, >= 1
};

/// One level of the grid, as tiny-cuda-nn lays it out.
struct HashGridLevel {
  double scale = 0;        ///< 2^(l log2 b) N0 - 1, computed in float32 as tiny-cuda-nn does
  int64_t resolution = 0;  ///< ceil(scale) + 1 vertices per axis
  int64_t offset = 0;      ///< first entry (row of the parameters) of the level
  int64_t size = 0;        ///< entries: min(next multiple of 8 of resolution^3, T)
  bool hashed = false;     ///< resolution^3 > size: vertices are hashed, else indexed densely
};

/// The levels of a hash grid and the size of its parameters.
struct HashGridLayout {
  HashGridOptions options;
  std::vector<HashGridLevel> levels;
  int64_t n_entries = 0;  ///< rows of the parameter tensor [n_entries, F]

  /// Validates `options` (an sds::Error names the bad field) and lays the levels out.
  static HashGridLayout make(const HashGridOptions& options);
  /// Parameters in all: n_entries F.
  int64_t n_params() const { return n_entries * options.n_features_per_level; }
  /// Width of the encoding: L F.
  int64_t n_output_dims() const { return options.n_levels * options.n_features_per_level; }
};

/// Fresh parameters `[n_entries, F]` uniform in [-1e-4, 1e-4] (tiny-cuda-nn's initialisation),
/// float32 on `device`, drawn from `generator` (the default CPU generator when null).
at::Tensor hash_grid_init(const HashGridLayout& layout, at::Device device = at::kCPU,
                          std::optional<at::Generator> generator = std::nullopt);

/// Encodes points `[N, 3]` of the unit cube [0, 1]^3: `[N, L F]`, level-major (channel l F + f).
///
/// At level l a coordinate u maps to p = u scale_l + 0.5; the vertex g = floor(p) and its 7
/// neighbours are looked up (dense levels: g_x + g_y res + g_z res^2; hashed levels:
/// g_x XOR 2654435761 g_y XOR 805459861 g_z in uint32; both modulo the level's size) and
/// interpolated trilinearly. Parameter row offset_l + index holds the level's F features
/// (tiny-cuda-nn's param[(offset_l + index) F + f]), so a tiny-cuda-nn grid's parameters load
/// unchanged. Points outside the cube wrap around like tiny-cuda-nn's and stay memory-safe for
/// any value; they are not checked, for speed.
///
/// Differentiable w.r.t. both params and points, to second order: the gradient w.r.t. points
/// (analytic normals) is itself differentiable w.r.t. params, points and the incoming gradient
/// (the mixed second derivatives of the trilinear weights; the pure ones are zero). params
/// `[n_entries, F]` float32 or float64, points of the same dtype and device (CPU, or CUDA in a
/// build with CUDA); anything else is an sds::Error. Deterministic on the CPU for any thread
/// count; CUDA accumulates gradients with atomics.
at::Tensor hash_grid_encode(const at::Tensor& params, const at::Tensor& points,
                            const HashGridLayout& layout);

}  // namespace sds::ops
