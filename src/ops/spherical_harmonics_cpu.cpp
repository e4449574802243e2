// spherical_harmonics on the CPU: elements in parallel, the arithmetic of gaussian_math.h.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "ops/spherical_harmonics_kernels.h"

namespace sds::ops::detail {

void spherical_harmonics_fwd_cpu(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs,
                                 const at::Tensor& colors) {
  const int64_t M = dirs.size(0), K = coeffs.size(1);
  AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "spherical_harmonics_fwd_cpu", [&] {
    using T = scalar_t;
    const T* d = dirs.data_ptr<T>();
    const T* c = coeffs.data_ptr<T>();
    T* out = colors.data_ptr<T>();
    at::parallel_for(0, M, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t m = begin; m < end; ++m) {
        sh_to_color<T>(static_cast<int>(degree), d + 3 * m, c + 3 * K * m, out + 3 * m);
      }
    });
  });
}

void spherical_harmonics_bwd_cpu(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs,
                                 const at::Tensor& v_colors, const at::Tensor& v_coeffs,
                                 const at::Tensor& v_dirs) {
  const int64_t M = dirs.size(0), K = coeffs.size(1);
  AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "spherical_harmonics_bwd_cpu", [&] {
    using T = scalar_t;
    const T* d = dirs.data_ptr<T>();
    const T* c = coeffs.data_ptr<T>();
    const T* vc = v_colors.data_ptr<T>();
    T* v_c = v_coeffs.data_ptr<T>();
    T* v_d = v_dirs.defined() ? v_dirs.data_ptr<T>() : nullptr;
    at::parallel_for(0, M, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t m = begin; m < end; ++m) {
        sh_to_color_vjp<T>(static_cast<int>(degree), d + 3 * m, c + 3 * K * m, vc + 3 * m,
                           v_c + 3 * K * m, v_d ? v_d + 3 * m : nullptr);
      }
    });
  });
}

}  // namespace sds::ops::detail
