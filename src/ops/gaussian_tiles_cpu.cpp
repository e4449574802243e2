// intersect_tiles on the CPU: a counting sort of the intersections into (image, tile) buckets in
// pair order, then each bucket sorted by (depth, pair) in parallel. Deterministic, and the same
// order as the CUDA path's stable key sort.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "ops/gaussian_tiles_kernels.h"
#include "sds/core/error.h"

namespace sds::ops::detail {

void intersect_tiles_cpu(const at::Tensor& means2d, const at::Tensor& radii,
                         const at::Tensor& depths, TileIntersections& out) {
  const int64_t C = means2d.size(0), N = means2d.size(1);
  const int32_t tx = static_cast<int32_t>(out.tiles_x), ty = static_cast<int32_t>(out.tiles_y);
  const int tile = static_cast<int>(out.tile_size);
  const int64_t n_tiles = static_cast<int64_t>(tx) * ty;
  const int tile_bits = bits_for(n_tiles);
  const int32_t* rad = radii.data_ptr<int32_t>();
  std::vector<TileRect> rects(C * N);
  std::vector<int64_t> bucket_start(C * n_tiles + 1, 0);
  std::vector<int64_t> depth_keys(C * N);
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "intersect_tiles_cpu", [&] {
    const scalar_t* m = means2d.data_ptr<scalar_t>();
    const scalar_t* d = depths.data_ptr<scalar_t>();
    at::parallel_for(0, C * N, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t ci = begin; ci < end; ++ci) {
        rects[ci] = tile_rect<scalar_t>(m + 2 * ci, rad + 2 * ci, tile, tx, ty);
        depth_keys[ci] = depth_key(d[ci]);
      }
    });
  });
  // Bucket sizes, then their starts (an exclusive scan).
  for (int64_t ci = 0; ci < C * N; ++ci) {
    const TileRect& r = rects[ci];
    const int64_t base = (ci / N) * n_tiles;
    for (int32_t y = r.y0; y < r.y1; ++y) {
      for (int32_t x = r.x0; x < r.x1; ++x) ++bucket_start[base + y * tx + x + 1];
    }
  }
  for (int64_t b = 0; b < C * n_tiles; ++b) bucket_start[b + 1] += bucket_start[b];
  const int64_t M = bucket_start[C * n_tiles];
  SDS_CHECK(M <= INT32_MAX, "intersect_tiles: {} tile intersections exceed the int32 index range",
            M);
  std::vector<int64_t> fill(bucket_start.begin(), bucket_start.end() - 1);
  std::vector<std::pair<int64_t, int32_t>> entries(M);  // (depth key, pair)
  for (int64_t ci = 0; ci < C * N; ++ci) {
    const TileRect& r = rects[ci];
    const int64_t base = (ci / N) * n_tiles;
    for (int32_t y = r.y0; y < r.y1; ++y) {
      for (int32_t x = r.x0; x < r.x1; ++x) {
        entries[fill[base + y * tx + x]++] = {depth_keys[ci], static_cast<int32_t>(ci)};
      }
    }
  }
  out.isect_ids = at::empty({M}, at::kLong);
  out.flatten_ids = at::empty({M}, at::kInt);
  out.offsets = at::empty({C, ty, tx}, at::kInt);
  int64_t* keys = out.isect_ids.data_ptr<int64_t>();
  int32_t* ids = out.flatten_ids.data_ptr<int32_t>();
  int32_t* offs = out.offsets.data_ptr<int32_t>();
  at::parallel_for(0, C * n_tiles, 16, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t s = bucket_start[b], e = bucket_start[b + 1];
      // (depth, pair) pairs are unique, so this order is total and matches a stable key sort.
      std::sort(entries.begin() + s, entries.begin() + e);
      const int64_t image = b / n_tiles, tile_id = b % n_tiles;
      const int64_t high = (image << (32 + tile_bits)) | (tile_id << 32);
      for (int64_t k = s; k < e; ++k) {
        keys[k] = high | entries[k].first;
        ids[k] = entries[k].second;
      }
      offs[b] = static_cast<int32_t>(s);
    }
  });
}

}  // namespace sds::ops::detail
