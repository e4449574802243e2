// composite_rays on the CPU: rays in parallel, each ray one sequential sweep of the shared
// per-ray arithmetic (composite_rays_kernels.h). Also the reference for the CUDA kernel.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "ops/composite_rays_kernels.h"

namespace sds::ops::detail {
namespace {

// Rays per task: about GRAIN_SIZE samples, so short rays do not drown in scheduling.
int64_t ray_grain(int64_t S) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(S, 1));
}

template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

std::vector<at::Tensor> composite_rays_fwd_cpu(const at::Tensor& sigmas_in,
                                               const at::Tensor& rgbs_in,
                                               const at::Tensor& deltas_in,
                                               const at::Tensor& ts_in) {
  const at::Tensor sigmas = sigmas_in.contiguous();
  const at::Tensor rgbs = rgbs_in.contiguous();
  const at::Tensor deltas = deltas_in.contiguous();
  const at::Tensor ts = ts_in.contiguous();
  const int64_t R = sigmas.size(0);
  const int64_t S = sigmas.size(1);
  const auto opts = sigmas.options();
  at::Tensor rgb = at::empty({R, 3}, opts);
  at::Tensor alpha = at::empty({R}, opts);
  at::Tensor depth = at::empty({R}, opts);
  at::Tensor weights = at::empty({R, S}, opts);
  at::Tensor trans = at::empty({R}, opts);

  AT_DISPATCH_FLOATING_TYPES(sigmas.scalar_type(), "composite_rays_fwd_cpu", [&] {
    const scalar_t* sig = sigmas.data_ptr<scalar_t>();
    const scalar_t* col = rgbs.data_ptr<scalar_t>();
    const scalar_t* dl = deltas.data_ptr<scalar_t>();
    const scalar_t* tt = ts.data_ptr<scalar_t>();
    scalar_t* o_rgb = rgb.data_ptr<scalar_t>();
    scalar_t* o_alpha = alpha.data_ptr<scalar_t>();
    scalar_t* o_depth = depth.data_ptr<scalar_t>();
    scalar_t* o_w = weights.data_ptr<scalar_t>();
    scalar_t* o_trans = trans.data_ptr<scalar_t>();
    at::parallel_for(0, R, ray_grain(S), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r * S;
        composite_ray_fwd<scalar_t>(S, sig + o, col + 3 * o, dl + o, tt + o, o_w + o, o_rgb + 3 * r,
                                    o_alpha + r, o_depth + r, o_trans + r);
      }
    });
  });
  return {rgb, alpha, depth, weights, trans};
}

std::vector<at::Tensor> composite_rays_bwd_cpu(
    const at::Tensor& v_rgb_in, const at::Tensor& v_alpha_in, const at::Tensor& v_depth_in,
    const at::Tensor& v_weights_in, const at::Tensor& rgbs_in, const at::Tensor& deltas_in,
    const at::Tensor& ts_in, const at::Tensor& weights_in, const at::Tensor& trans_in,
    bool need_rgbs) {
  auto contig = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  const at::Tensor v_rgb = contig(v_rgb_in);
  const at::Tensor v_alpha = contig(v_alpha_in);
  const at::Tensor v_depth = contig(v_depth_in);
  const at::Tensor v_weights = contig(v_weights_in);
  const at::Tensor rgbs = rgbs_in.contiguous();
  const at::Tensor deltas = deltas_in.contiguous();
  const at::Tensor ts = ts_in.contiguous();
  const at::Tensor weights = weights_in.contiguous();
  const at::Tensor trans = trans_in.contiguous();
  const int64_t R = weights.size(0);
  const int64_t S = weights.size(1);
  at::Tensor d_sigmas = at::empty({R, S}, weights.options());
  // Without an upstream colour gradient dL/dc is zero; an undefined tensor says so for free.
  at::Tensor d_rgbs =
      need_rgbs && v_rgb.defined() ? at::empty({R, S, 3}, weights.options()) : at::Tensor();

  AT_DISPATCH_FLOATING_TYPES(weights.scalar_type(), "composite_rays_bwd_cpu", [&] {
    const scalar_t* col = rgbs.data_ptr<scalar_t>();
    const scalar_t* dl = deltas.data_ptr<scalar_t>();
    const scalar_t* tt = ts.data_ptr<scalar_t>();
    const scalar_t* w = weights.data_ptr<scalar_t>();
    const scalar_t* tr = trans.data_ptr<scalar_t>();
    const scalar_t* g_rgb = ptr_or_null<scalar_t>(v_rgb);
    const scalar_t* g_alpha = ptr_or_null<scalar_t>(v_alpha);
    const scalar_t* g_depth = ptr_or_null<scalar_t>(v_depth);
    const scalar_t* g_w = ptr_or_null<scalar_t>(v_weights);
    scalar_t* d_sig = d_sigmas.data_ptr<scalar_t>();
    scalar_t* d_col = d_rgbs.defined() ? d_rgbs.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, R, ray_grain(S), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r * S;
        composite_ray_bwd<scalar_t>(
            S, col + 3 * o, dl + o, tt + o, w + o, tr[r], g_rgb ? g_rgb + 3 * r : nullptr,
            g_alpha ? g_alpha + r : nullptr, g_depth ? g_depth + r : nullptr,
            g_w ? g_w + o : nullptr, d_sig + o, d_col ? d_col + 3 * o : nullptr);
      }
    });
  });
  return {d_sigmas, d_rgbs};
}

}  // namespace sds::ops::detail
