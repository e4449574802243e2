#pragma once
// Tile binning of projected Gaussians: which Gaussians touch which 16 x 16 tile, front to back.

#include <ATen/ATen.h>

namespace sds::ops {

/// The (tile, Gaussian) intersections of C images, sorted by image, then tile, then depth.
struct TileIntersections {
  /// [M] int64 sort keys: image << (32 + tile_bits) | tile << 32 | float bits of the depth
  /// (a positive float's bits order like the float), ascending.
  at::Tensor isect_ids;
  at::Tensor flatten_ids;  ///< [M] int32 index c * N + i of the pair behind each intersection
  /// [C, tiles_y, tiles_x] int32 start of each tile's run in the sorted list; a run ends where
  /// the next tile's starts (the last at M).
  at::Tensor offsets;
  int64_t tile_size = 16;
  int64_t tiles_x = 0;  ///< ceil(width / tile_size)
  int64_t tiles_y = 0;  ///< ceil(height / tile_size)
};

/// Bins projected Gaussians (means2d [C, N, 2] pixels, radii [C, N, 2] int32 with 0 = culled,
/// depths [C, N]) into tiles of a width x height image. A Gaussian touches tiles
/// floor((mean - r) / tile) .. ceil((mean + r) / tile) - 1 on each axis, clamped to the image.
/// Ties in depth keep the order of the Gaussians. Not differentiable. Same device for all inputs;
/// the result is identical on CPU and CUDA.
TileIntersections intersect_tiles(const at::Tensor& means2d, const at::Tensor& radii,
                                  const at::Tensor& depths, int64_t width, int64_t height,
                                  int64_t tile_size = 16);

}  // namespace sds::ops
