#pragma once
// View-dependent colour from real spherical harmonics (3DGS convention), fused.

#include <ATen/ATen.h>

namespace sds::ops {

/// rgb [M, 3] = max(0, sum_{k < (degree+1)^2} coeffs[m, k, :] Y_k(d_m) + 0.5), d_m = dirs[m] /
/// |dirs[m]| (a zero direction evaluates the basis at 0), for degree in 0..3. The basis and its
/// order are those of the 3DGS papers and files (Y_0 = 0.28209..., Y_1 = -0.48860 y, ...).
/// dirs [M, 3] (world direction from the camera to the Gaussian), coeffs [M, K, 3] with
/// K >= (degree + 1)^2 (coefficients beyond the degree are ignored: raising the degree during
/// training needs no new tensors). Differentiable w.r.t. coeffs and dirs; a channel clamped at 0
/// passes no gradient. One floating dtype and one device; anything else is an sds::Error.
at::Tensor spherical_harmonics(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs);

}  // namespace sds::ops
