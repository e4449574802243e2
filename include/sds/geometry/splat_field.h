#pragma once
// Fields of a weighted sum of anisotropic Gaussian kernels, for meshing 3D Gaussian splats:
// density(p) = sum_i w_i exp(-0.5 (p - mu_i)^T Sigma_i^-1 (p - mu_i)).
//
// Cutoff rule (both functions): Gaussian i contributes to a point p only when p lies in its
// axis-aligned cutoff box |p_a - mu_ia| <= cutoff_sigma * sqrt(Sigma_i,aa) on all three axes;
// beyond the box its contribution is omitted. Outside the box the Mahalanobis distance exceeds
// cutoff_sigma, so each omitted term is below w_i exp(-cutoff_sigma^2 / 2) (1.1 % of its peak at
// the default 3). The sums run in double, in Gaussian order, so results do not depend on the
// thread count or on how the work is split.
//
// Shared input checks: means [N, 3], covariances [N, 3, 3] symmetric positive definite, weights
// [N] >= 0, all float32 or float64 and finite (N may be 0); cutoff_sigma > 0.

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <utility>

namespace sds {

/// The density on a [R, R, R] grid (R = resolution in [2, 4096]), float32, indexed [ix][iy][iz]
/// with sample (ix, iy, iz) at lo + (ix, iy, iz) * (hi - lo) / (R - 1), as marching_cubes reads it.
/// Needs hi > lo on every axis and blocks >= 1. The grid is cut into blocks^3 blocks (fewer when
/// blocks > R), evaluated in parallel; a
/// Gaussian is visited only in the blocks its cutoff box overlaps. `blocks` changes the speed,
/// never the values.
at::Tensor splat_density_grid(const at::Tensor& means, const at::Tensor& covariances,
                              const at::Tensor& weights, int64_t resolution,
                              std::array<double, 3> lo, std::array<double, 3> hi,
                              int64_t blocks = 16, double cutoff_sigma = 3.0);

/// The density [P] and the kernel-weighted mean colour [P, C] (sum_i w_i k_i c_i / sum_i w_i k_i,
/// 0 where the density is 0) at `points` [P, 3], for per-Gaussian `colors` [N, C]; both
/// float32. Gaussians are binned on a coarse grid over the points, so a point visits only the
/// Gaussians whose cutoff boxes reach its cell.
std::pair<at::Tensor, at::Tensor> splat_field(const at::Tensor& points, const at::Tensor& means,
                                              const at::Tensor& covariances,
                                              const at::Tensor& weights, const at::Tensor& colors,
                                              double cutoff_sigma = 3.0);

}  // namespace sds
