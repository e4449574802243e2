// intersect_tiles: boundary checks and device dispatch (not differentiable).

#include "sds/ops/gaussian_tiles.h"

#include <ATen/Dispatch.h>

#include "ops/gaussian_tiles_kernels.h"
#include "ops/op_glue.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {
namespace {

#ifdef SDS_WITH_CUDA
// Count, scan, emit, stable key sort, then tile starts: the gsplat pipeline with ATen's scan and
// sort as glue.
void intersect_tiles_cuda(const at::Tensor& means2d, const at::Tensor& radii,
                          const at::Tensor& depths, TileIntersections& out) {
  const c10::cuda::CUDAGuard guard(means2d.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t C = means2d.size(0), N = means2d.size(1);
  const int32_t tx = static_cast<int32_t>(out.tiles_x), ty = static_cast<int32_t>(out.tiles_y);
  const int tile = static_cast<int>(out.tile_size);
  const int64_t n_tiles = static_cast<int64_t>(tx) * ty;
  const int tile_bits = detail::bits_for(n_tiles);
  const auto long_opts = means2d.options().dtype(at::kLong);
  at::Tensor counts = at::empty({C * N}, long_opts);
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "count_tiles_cuda", [&] {
    detail::check_launch(detail::count_tiles_cuda<scalar_t>(
                             C * N, means2d.data_ptr<scalar_t>(), radii.data_ptr<int32_t>(), tile,
                             tx, ty, counts.data_ptr<int64_t>(), stream),
                         "intersect_tiles count");
  });
  at::Tensor ends = counts.cumsum(0);
  const int64_t M = C * N > 0 ? ends[-1].item<int64_t>() : 0;
  SDS_CHECK(M <= INT32_MAX, "intersect_tiles: {} tile intersections exceed the int32 index range",
            M);
  at::Tensor keys = at::empty({M}, long_opts);
  at::Tensor ids = at::empty({M}, means2d.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "emit_tiles_cuda", [&] {
    detail::check_launch(
        detail::emit_tiles_cuda<scalar_t>(C, N, means2d.data_ptr<scalar_t>(),
                                          radii.data_ptr<int32_t>(), depths.data_ptr<scalar_t>(),
                                          ends.data_ptr<int64_t>(), tile, tx, ty, tile_bits,
                                          keys.data_ptr<int64_t>(), ids.data_ptr<int32_t>(),
                                          stream),
        "intersect_tiles emit");
  });
  // A bare `true` would bind to sort's `dim` overload.
  auto [sorted, order] = at::sort(keys, /*stable=*/std::optional<bool>(true), /*dim=*/0,
                                  /*descending=*/false);
  out.isect_ids = sorted;
  out.flatten_ids = ids.index_select(0, order);
  out.offsets = at::empty({C, ty, tx}, means2d.options().dtype(at::kInt));
  detail::check_launch(
      detail::tile_offsets_cuda(M, C, n_tiles, tile_bits, sorted.data_ptr<int64_t>(),
                                out.offsets.data_ptr<int32_t>(), stream),
      "intersect_tiles offsets");
}
#endif

}  // namespace

TileIntersections intersect_tiles(const at::Tensor& means2d, const at::Tensor& radii,
                                  const at::Tensor& depths, int64_t width, int64_t height,
                                  int64_t tile_size) {
  check_shape(means2d, "intersect_tiles: means2d", {-1, -1, 2}, "[C, N, 2]");
  const int64_t C = means2d.size(0), N = means2d.size(1);
  check_shape(radii, "intersect_tiles: radii", {C, N, 2}, "[C, N, 2] (C, N from means2d)");
  check_shape(depths, "intersect_tiles: depths", {C, N}, "[C, N] (C, N from means2d)");
  check_floating(means2d, "intersect_tiles: means2d");
  check_dtype(radii, "intersect_tiles: radii", at::kInt);
  check_dtype(depths, "intersect_tiles: depths", means2d.scalar_type());
  check_device_supported(means2d, "intersect_tiles: means2d");
  check_device(radii, "intersect_tiles: radii", means2d.device());
  check_device(depths, "intersect_tiles: depths", means2d.device());
  // A tile is one CUDA block of tile^2 threads.
  SDS_CHECK(tile_size >= 1 && tile_size <= 32, "intersect_tiles: expected tile_size 1..32, got {}",
            tile_size);
  SDS_CHECK(width >= 1 && height >= 1 && width <= (1 << 15) && height <= (1 << 15),
            "intersect_tiles: expected an image size in [1, 32768]^2, got {} x {}", width, height);
  SDS_CHECK(C * N <= INT32_MAX, "intersect_tiles: {} cameras x {} Gaussians exceed the int32 pair "
            "index range", C, N);
  TileIntersections out;
  out.tile_size = tile_size;
  out.tiles_x = (width + tile_size - 1) / tile_size;
  out.tiles_y = (height + tile_size - 1) / tile_size;
  const int bits = detail::bits_for(out.tiles_x * out.tiles_y) + detail::bits_for(C);
  SDS_CHECK(bits <= 31,
            "intersect_tiles: {} images of {} tiles need {} key bits above the depth, at most 31",
            C, out.tiles_x * out.tiles_y, bits);
  at::Tensor m = means2d.contiguous(), r = radii.contiguous(), d = depths.contiguous();
#ifdef SDS_WITH_CUDA
  if (m.is_cuda()) {
    intersect_tiles_cuda(m, r, d, out);
    return out;
  }
#endif
  detail::intersect_tiles_cpu(m.detach(), r, d.detach(), out);
  return out;
}

}  // namespace sds::ops
