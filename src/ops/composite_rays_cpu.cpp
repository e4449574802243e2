// composite_rays on the CPU: rays in parallel, each ray one sequential sweep of the shared
// per-ray arithmetic (composite_rays_kernels.h). Also the reference for the CUDA kernel.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "ops/composite_rays_kernels.h"
#include "ops/op_glue.h"

namespace sds::ops::detail {
namespace {

// Rays per task: about GRAIN_SIZE samples, so short rays do not drown in scheduling.
int64_t ray_grain(int64_t S) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(S, 1));
}

}  // namespace

void composite_rays_fwd_cpu(const CompositeForward& f) {
  const bool packed = f.offsets.defined();
  const int64_t R = packed ? f.offsets.size(0) - 1 : f.sigmas.size(0);
  const int64_t S = packed ? 0 : f.sigmas.size(1);
  const int64_t* offsets = packed ? f.offsets.data_ptr<int64_t>() : nullptr;
  const int64_t grain = ray_grain(packed ? f.sigmas.numel() / std::max<int64_t>(R, 1) : S);
  AT_DISPATCH_FLOATING_TYPES(f.sigmas.scalar_type(), "composite_rays_fwd_cpu", [&] {
    const scalar_t* sig = f.sigmas.data_ptr<scalar_t>();
    const scalar_t* col = f.rgbs.data_ptr<scalar_t>();
    const scalar_t* dl = f.deltas.data_ptr<scalar_t>();
    const scalar_t* tt = f.ts.data_ptr<scalar_t>();
    scalar_t* o_rgb = f.rgb.data_ptr<scalar_t>();
    scalar_t* o_alpha = f.alpha.data_ptr<scalar_t>();
    scalar_t* o_depth = f.depth.data_ptr<scalar_t>();
    scalar_t* o_w = f.weights.data_ptr<scalar_t>();
    scalar_t* o_trans = f.trans.data_ptr<scalar_t>();
    at::parallel_for(0, R, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t o, n;
        ray_samples(r, S, offsets, o, n);
        composite_ray_fwd<scalar_t>(n, sig + o, col + 3 * o, dl + o, tt + o, o_w + o, o_rgb + 3 * r,
                                    o_alpha + r, o_depth + r, o_trans + r);
      }
    });
  });
}

void composite_rays_bwd_cpu(const CompositeBackward& b) {
  const bool packed = b.offsets.defined();
  const int64_t R = packed ? b.offsets.size(0) - 1 : b.weights.size(0);
  const int64_t S = packed ? 0 : b.weights.size(1);
  const int64_t* offsets = packed ? b.offsets.data_ptr<int64_t>() : nullptr;
  const int64_t grain = ray_grain(packed ? b.weights.numel() / std::max<int64_t>(R, 1) : S);
  AT_DISPATCH_FLOATING_TYPES(b.weights.scalar_type(), "composite_rays_bwd_cpu", [&] {
    const scalar_t* col = b.rgbs.data_ptr<scalar_t>();
    const scalar_t* dl = b.deltas.data_ptr<scalar_t>();
    const scalar_t* tt = b.ts.data_ptr<scalar_t>();
    const scalar_t* w = b.weights.data_ptr<scalar_t>();
    const scalar_t* tr = b.trans.data_ptr<scalar_t>();
    const scalar_t* g_rgb = ptr_or_null<scalar_t>(b.v_rgb);
    const scalar_t* g_alpha = ptr_or_null<scalar_t>(b.v_alpha);
    const scalar_t* g_depth = ptr_or_null<scalar_t>(b.v_depth);
    const scalar_t* g_w = ptr_or_null<scalar_t>(b.v_weights);
    scalar_t* d_sig = b.d_sigmas.data_ptr<scalar_t>();
    scalar_t* d_col = b.d_rgbs.defined() ? b.d_rgbs.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, R, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t o, n;
        ray_samples(r, S, offsets, o, n);
        composite_ray_bwd<scalar_t>(
            n, col + 3 * o, dl + o, tt + o, w + o, tr[r], g_rgb ? g_rgb + 3 * r : nullptr,
            g_alpha ? g_alpha + r : nullptr, g_depth ? g_depth + r : nullptr,
            g_w ? g_w + o : nullptr, d_sig + o, d_col ? d_col + 3 * o : nullptr);
      }
    });
  });
}

}  // namespace sds::ops::detail
