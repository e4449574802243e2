#include "ops/gaussian_checks.h"

#include <string>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops::detail {

void check_all_finite(const char* op, const at::Tensor& t, const char* what) {
  if (t.numel() == 0) return;
  at::Tensor bad = at::logical_not(at::isfinite(t));
  if (!bad.any().item<bool>()) return;
  const int64_t row = bad.reshape({t.size(0), -1}).any(1).nonzero()[0][0].item<int64_t>();
  fail("{}: {}: expected finite values, found NaN or Inf at row {}", op, what, row);
}

void check_gaussians(const char* op, const at::Tensor& means, const at::Tensor& quats,
                     const at::Tensor& scales, const at::Tensor& opacities) {
  const std::string p = std::string(op) + ": ";
  check_shape(means, p + "means", {-1, 3}, "[N, 3]");
  const int64_t n = means.size(0);
  check_shape(quats, p + "quats", {n, 4}, "[N, 4] (N from means)");
  check_shape(scales, p + "scales", {n, 3}, "[N, 3] (N from means)");
  check_floating(means, p + "means");
  check_device_supported(means, p + "means");
  check_dtype(quats, p + "quats", means.scalar_type());
  check_dtype(scales, p + "scales", means.scalar_type());
  check_device(quats, p + "quats", means.device());
  check_device(scales, p + "scales", means.device());
  // Values are read back only where that costs no sync (see value_checks_enabled).
  const bool values = value_checks_enabled(means);
  if (values) {
    check_all_finite(op, means, "means");
    check_all_finite(op, quats, "quats");
    check_all_finite(op, scales, "scales");
  }
  if (values && n > 0) {
    at::Tensor zero_q = quats.abs().amax(1) == 0;
    SDS_CHECK(!zero_q.any().item<bool>(),
              "{}: quats: expected non-zero quaternions, row {} is (0, 0, 0, 0)", op,
              zero_q.nonzero()[0][0].item<int64_t>());
    const double smin = scales.min().item<double>();
    SDS_CHECK(smin > 0, "{}: scales: expected standard deviations > 0, got a minimum of {}", op,
              smin);
  }
  if (opacities.defined()) {
    check_shape(opacities, p + "opacities", {n}, "[N] (N from means)");
    check_dtype(opacities, p + "opacities", means.scalar_type());
    check_device(opacities, p + "opacities", means.device());
    if (values) check_all_finite(op, opacities, "opacities");
    if (values && n > 0) {
      const double lo = opacities.min().item<double>(), hi = opacities.max().item<double>();
      SDS_CHECK(lo >= 0 && hi <= 1, "{}: opacities: expected values in [0, 1], got [{}, {}]", op,
                lo, hi);
    }
  }
}

void check_cameras(const char* op, const at::Tensor& viewmats, const at::Tensor& ks,
                   int64_t width, int64_t height, const at::Tensor& like) {
  const std::string p = std::string(op) + ": ";
  check_shape(viewmats, p + "viewmats", {-1, 4, 4}, "[C, 4, 4]");
  const int64_t c = viewmats.size(0);
  SDS_CHECK(c >= 1, "{}: viewmats: expected at least one camera, got 0", op);
  check_shape(ks, p + "Ks", {c, 3, 3}, "[C, 3, 3] (C from viewmats)");
  check_dtype(viewmats, p + "viewmats", like.scalar_type());
  check_dtype(ks, p + "Ks", like.scalar_type());
  check_device(viewmats, p + "viewmats", like.device());
  check_device(ks, p + "Ks", like.device());
  SDS_CHECK(width >= 1 && height >= 1 && width <= (1 << 15) && height <= (1 << 15),
            "{}: expected an image size in [1, 32768]^2, got {} x {}", op, width, height);
  if (!value_checks_enabled(viewmats)) return;
  check_all_finite(op, viewmats, "viewmats");
  check_all_finite(op, ks, "Ks");
  at::Tensor v = viewmats.to(at::kDouble).cpu();
  at::Tensor rot = v.slice(1, 0, 3).slice(2, 0, 3);
  const double ortho =
      (at::matmul(rot, rot.transpose(1, 2)) - at::eye(3, v.options())).abs().max().item<double>();
  SDS_CHECK(ortho < 1e-3,
            "{}: viewmats: expected rigid world-to-camera transforms (orthonormal rotation), "
            "got |R R^T - I| = {}",
            op, ortho);
  at::Tensor last = v.select(1, 3);
  at::Tensor want = at::tensor({0.0, 0.0, 0.0, 1.0}, v.options()).expand({c, 4});
  SDS_CHECK(at::equal(last, want), "{}: viewmats: expected a last row (0, 0, 0, 1)", op);
  at::Tensor k = ks.to(at::kDouble).cpu();
  const double fmin = at::minimum(k.select(1, 0).select(1, 0), k.select(1, 1).select(1, 1))
                          .min()
                          .item<double>();
  SDS_CHECK(fmin > 0, "{}: Ks: expected positive focal lengths, got a minimum of {}", op, fmin);
  at::Tensor klast = k.select(1, 2);
  at::Tensor kwant = at::tensor({0.0, 0.0, 1.0}, k.options()).expand({c, 3});
  SDS_CHECK(at::equal(klast, kwant), "{}: Ks: expected a last row (0, 0, 1)", op);
  SDS_CHECK(at::equal(k.select(1, 0).select(1, 1), at::zeros({c}, k.options())) &&
                at::equal(k.select(1, 1).select(1, 0), at::zeros({c}, k.options())),
            "{}: Ks: expected no skew (K[0][1] = K[1][0] = 0)", op);
}

}  // namespace sds::ops::detail
