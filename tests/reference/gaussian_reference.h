#pragma once
// 3D Gaussian splatting written with dense ATen ops and differentiated by autograd: the ground
// truth of the tests and the baseline of the benchmark. Every pixel sees every Gaussian (no
// tiles), sorted by depth per camera; the thresholds are the kernels' (alpha 1/255, cap 0.99,
// stop before T <= 1e-4).

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

namespace sds::test {

/// Rotation matrices [N, 3, 3] of quaternions [N, 4] (w, x, y, z), normalised.
inline at::Tensor quat_to_rotmat_reference(const at::Tensor& quats) {
  at::Tensor q = quats / quats.norm(2, -1, true);
  at::Tensor w = q.select(1, 0), x = q.select(1, 1), y = q.select(1, 2), z = q.select(1, 3);
  std::vector<at::Tensor> e = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                               2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                               2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)};
  return at::stack(e, -1).view({-1, 3, 3});
}

struct ProjectionReference {
  at::Tensor means2d, depths, conics, compensations, radii;
};

/// The EWA projection (see sds/ops/gaussian_projection.h) for every (camera, Gaussian) pair,
/// culled pairs included; `radii` [C, N, 2] (as doubles) is 0 where the kernel culls.
inline ProjectionReference project_reference(const at::Tensor& means, const at::Tensor& quats,
                                             const at::Tensor& scales,
                                             const at::Tensor& opacities,
                                             const at::Tensor& viewmats, const at::Tensor& ks,
                                             int64_t width, int64_t height, double eps2d = 0.3,
                                             bool antialiased = false, double near = 0.01) {
  at::Tensor rot = quat_to_rotmat_reference(quats);
  at::Tensor m = rot * scales.unsqueeze(1);                       // R S
  at::Tensor covar = at::matmul(m, m.transpose(1, 2));            // [N, 3, 3]
  at::Tensor r = viewmats.slice(1, 0, 3).slice(2, 0, 3);          // [C, 3, 3]
  at::Tensor tr = viewmats.slice(1, 0, 3).select(2, 3);           // [C, 3]
  at::Tensor t = at::einsum("cij,nj->cni", {r, means}) + tr.unsqueeze(1);  // [C, N, 3]
  at::Tensor covar_c = at::einsum("cij,njk,clk->cnil", {r, covar, r});     // [C, N, 3, 3]
  at::Tensor fx = ks.select(1, 0).select(1, 0).unsqueeze(1), fy = ks.select(1, 1).select(1, 1).unsqueeze(1);
  at::Tensor cx = ks.select(1, 0).select(1, 2).unsqueeze(1), cy = ks.select(1, 1).select(1, 2).unsqueeze(1);
  at::Tensor tx = t.select(2, 0), ty = t.select(2, 1), tz = t.select(2, 2);
  const double w = static_cast<double>(width), h = static_cast<double>(height);
  at::Tensor tan_x = 0.5 * w / fx, tan_y = 0.5 * h / fy;
  at::Tensor rx = at::minimum(at::maximum(tx / tz, -(cx / fx + 0.3 * tan_x)), (w - cx) / fx + 0.3 * tan_x);
  at::Tensor ry = at::minimum(at::maximum(ty / tz, -(cy / fy + 0.3 * tan_y)), (h - cy) / fy + 0.3 * tan_y);
  at::Tensor zero = at::zeros_like(tz);
  at::Tensor j = at::stack({fx / tz, zero, -fx * rx / tz, zero, fy / tz, -fy * ry / tz}, -1)
                     .view({tz.size(0), tz.size(1), 2, 3});
  at::Tensor cov2d = at::matmul(at::matmul(j, covar_c), j.transpose(2, 3));  // [C, N, 2, 2]
  at::Tensor det_orig = cov2d.select(2, 0).select(2, 0) * cov2d.select(2, 1).select(2, 1) -
                        cov2d.select(2, 0).select(2, 1) * cov2d.select(2, 1).select(2, 0);
  at::Tensor blur = cov2d + eps2d * at::eye(2, cov2d.options());
  at::Tensor a = blur.select(2, 0).select(2, 0), b = blur.select(2, 0).select(2, 1),
             d = blur.select(2, 1).select(2, 1);
  at::Tensor det = a * d - b * b;
  ProjectionReference out;
  out.conics = at::stack({d / det, -b / det, a / det}, -1);
  out.means2d = at::stack({fx * tx / tz + cx, fy * ty / tz + cy}, -1);
  out.depths = tz;
  out.compensations = antialiased ? at::clamp_min(at::sqrt(at::clamp_min(det_orig / det, 0.0)), 0.005)
                                  : at::ones_like(tz);
  // Radii: opacity-aware 3.33-sigma boxes, culled like the kernel.
  at::NoGradGuard no_grad;
  at::Tensor o = opacities.detach().unsqueeze(0) * out.compensations.detach();
  at::Tensor ext = at::clamp_max(at::sqrt(2 * at::log(at::clamp_min(o * 255.0, 1.0))), 3.33);
  at::Tensor rad_x = at::ceil(ext * at::sqrt(a.detach())), rad_y = at::ceil(ext * at::sqrt(d.detach()));
  at::Tensor mx = out.means2d.detach().select(2, 0), my = out.means2d.detach().select(2, 1);
  at::Tensor keep = (tz.detach() >= near) & (det.detach() > 0) & (o >= 1.0 / 255.0) & (rad_x > 0) &
                    (rad_y > 0) & (mx + rad_x > 0) & (mx - rad_x < w) & (my + rad_y > 0) &
                    (my - rad_y < h);
  out.radii = at::stack({at::where(keep, rad_x, 0.0), at::where(keep, rad_y, 0.0)}, -1);
  return out;
}

/// The SH colour max(0, sum_k c_k Y_k(d) + 0.5), dirs [M, 3], coeffs [M, K, 3].
inline at::Tensor spherical_harmonics_reference(int64_t degree, const at::Tensor& dirs,
                                                const at::Tensor& coeffs) {
  at::Tensor d = dirs / dirs.norm(2, -1, true);
  at::Tensor x = d.select(1, 0), y = d.select(1, 1), z = d.select(1, 2);
  std::vector<at::Tensor> basis = {at::full_like(x, 0.28209479177387814)};
  if (degree >= 1) {
    const double c1 = 0.4886025119029199;
    basis.insert(basis.end(), {-c1 * y, c1 * z, -c1 * x});
  }
  if (degree >= 2) {
    basis.insert(basis.end(), {1.0925484305920792 * x * y, -1.0925484305920792 * y * z,
                               0.31539156525252005 * (2 * z * z - x * x - y * y),
                               -1.0925484305920792 * x * z, 0.5462742152960396 * (x * x - y * y)});
  }
  if (degree >= 3) {
    basis.insert(basis.end(),
                 {-0.5900435899266435 * y * (3 * x * x - y * y), 2.890611442640554 * x * y * z,
                  -0.4570457994644658 * y * (4 * z * z - x * x - y * y),
                  0.3731763325901154 * z * (2 * z * z - 3 * x * x - 3 * y * y),
                  -0.4570457994644658 * x * (4 * z * z - x * x - y * y),
                  1.445305721320277 * z * (x * x - y * y),
                  -0.5900435899266435 * x * (x * x - 3 * y * y)});
  }
  at::Tensor y_k = at::stack(basis, 1);  // [M, K']
  at::Tensor c = coeffs.slice(1, 0, y_k.size(1));
  return at::clamp_min((c * y_k.unsqueeze(-1)).sum(1) + 0.5, 0.0);
}

/// Dense compositing at pixel centres px, py [P] of C images: colors [C, P, D], alphas
/// [C, P, 1]. Pairs with visible[c, i] false are skipped (the kernel's culling).
inline std::pair<at::Tensor, at::Tensor> composite_pixels_reference(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
    const at::Tensor& opacities, const at::Tensor& backgrounds, const at::Tensor& depths,
    const at::Tensor& visible, const at::Tensor& px_in, const at::Tensor& py_in) {
  const int64_t C = means2d.size(0);
  auto opts = means2d.options();
  at::Tensor px = px_in.reshape({-1, 1}), py = py_in.reshape({-1, 1});  // [P, 1]
  std::vector<at::Tensor> out_c, out_a;
  for (int64_t c = 0; c < C; ++c) {
    at::Tensor order = at::argsort(depths[c].detach(), /*stable=*/true);
    order = order.index({visible[c].index_select(0, order)});
    at::Tensor m = means2d[c].index_select(0, order), con = conics[c].index_select(0, order);
    at::Tensor col = colors[c].index_select(0, order), op = opacities[c].index_select(0, order);
    at::Tensor dx = m.select(1, 0).unsqueeze(0) - px, dy = m.select(1, 1).unsqueeze(0) - py;
    at::Tensor sigma = 0.5 * (con.select(1, 0) * dx * dx + con.select(1, 2) * dy * dy) +
                       con.select(1, 1) * dx * dy;  // [P, n]
    at::Tensor alpha = at::clamp_max(op.unsqueeze(0) * at::exp(-sigma), 0.99);
    at::Tensor keep = (sigma >= 0) & (alpha >= 1.0 / 255.0);
    alpha = alpha * keep.to(alpha.scalar_type());
    at::Tensor after = at::cumprod(1 - alpha.detach(), 1);
    alpha = alpha * (after > 1e-4).to(alpha.scalar_type());
    at::Tensor one_minus = 1 - alpha;
    at::Tensor trans = at::cumprod(
        at::cat({at::ones({alpha.size(0), 1}, opts), one_minus.slice(1, 0, -1)}, 1), 1);
    at::Tensor w = alpha * trans;  // [P, n]
    at::Tensor t_final = at::prod(one_minus, 1, true);
    at::Tensor img = at::matmul(w, col);
    if (backgrounds.defined()) img = img + t_final * backgrounds[c].unsqueeze(0);
    out_c.push_back(img);
    out_a.push_back(1 - t_final);
  }
  return {at::stack(out_c), at::stack(out_a)};
}

/// Pixel centres (j + 0.5, i + 0.5) of a width x height image, row-major: px, py [H * W].
inline std::pair<at::Tensor, at::Tensor> pixel_centers(int64_t width, int64_t height,
                                                       const at::TensorOptions& opts) {
  at::Tensor jj = at::arange(width, opts) + 0.5, ii = at::arange(height, opts) + 0.5;
  auto grid = at::meshgrid({ii, jj}, "ij");
  return {grid[1].reshape({-1}), grid[0].reshape({-1})};
}

/// Dense compositing of C whole images: colors [C, H, W, D], alphas [C, H, W, 1].
inline std::pair<at::Tensor, at::Tensor> rasterize_reference(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
    const at::Tensor& opacities, const at::Tensor& backgrounds, const at::Tensor& depths,
    const at::Tensor& visible, int64_t width, int64_t height) {
  auto [px, py] = pixel_centers(width, height, means2d.options());
  auto [c, a] = composite_pixels_reference(means2d, conics, colors, opacities, backgrounds,
                                           depths, visible, px, py);
  const int64_t C = means2d.size(0), D = colors.size(2);
  return {c.view({C, height, width, D}), a.view({C, height, width, 1})};
}

}  // namespace sds::test
