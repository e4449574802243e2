#pragma once
// Boundary checks shared by the Gaussian splatting ops: each throws sds::Error naming the op,
// the argument, what was expected and what came.

#include <ATen/ATen.h>

namespace sds::ops::detail {

/// means [N, 3], quats [N, 4] (no zero rows), scales [N, 3] (> 0), opacities [N] in [0, 1] or
/// undefined: one floating dtype, one supported device, finite values.
void check_gaussians(const char* op, const at::Tensor& means, const at::Tensor& quats,
                     const at::Tensor& scales, const at::Tensor& opacities);

/// viewmats [C, 4, 4] (rigid: orthonormal rotation, last row 0 0 0 1), Ks [C, 3, 3] (positive
/// focal lengths, last row 0 0 1), C >= 1, width and height in [1, 2^15]; dtype and device of
/// `like`; finite values.
void check_cameras(const char* op, const at::Tensor& viewmats, const at::Tensor& ks,
                   int64_t width, int64_t height, const at::Tensor& like);

/// Throws unless `t` is finite; `what` names it.
void check_all_finite(const char* op, const at::Tensor& t, const char* what);

}  // namespace sds::ops::detail
