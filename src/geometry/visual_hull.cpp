#include "sds/geometry/visual_hull.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

at::Tensor inside_visual_hull(const at::Tensor& points, const at::Tensor& masks,
                              const at::Tensor& viewmats, const at::Tensor& Ks) {
  check_shape(points, "inside_visual_hull: points", {-1, 3}, "[N, 3]");
  check_floating(points, "inside_visual_hull: points");
  check_dtype(masks, "inside_visual_hull: masks", at::kBool);
  SDS_CHECK(masks.dim() == 3 && masks.size(0) >= 1 && masks.size(1) >= 1 && masks.size(2) >= 1,
            "inside_visual_hull: expected masks [V, H, W] with V, H, W >= 1, got {}",
            shape_string(masks.sizes()));
  const int64_t V = masks.size(0), H = masks.size(1), W = masks.size(2);
  check_shape(viewmats, "inside_visual_hull: viewmats", {V, 4, 4}, "[V, 4, 4] (V of masks)");
  check_shape(Ks, "inside_visual_hull: Ks", {V, 3, 3}, "[V, 3, 3] (V of masks)");
  check_floating(viewmats, "inside_visual_hull: viewmats");
  check_floating(Ks, "inside_visual_hull: Ks");
  const at::Device device = masks.device();
  const at::Tensor p = points.to(device, at::kDouble);
  const at::Tensor view = viewmats.to(device, at::kDouble);
  const at::Tensor K = Ks.to(device, at::kDouble);
  const at::Tensor flat = masks.reshape({V, H * W});
  at::Tensor seen = at::zeros({p.size(0)}, p.options().dtype(at::kBool));
  at::Tensor carved = at::zeros_like(seen);
  for (int64_t v = 0; v < V; ++v) {
    const at::Tensor cam = at::addmm(view[v].slice(0, 0, 3).select(1, 3), p,
                                     view[v].slice(0, 0, 3).slice(1, 0, 3).t());
    const at::Tensor z = cam.select(1, 2);
    const at::Tensor zs = z.clamp_min(1e-12);
    const at::Tensor u = K[v][0][0] * cam.select(1, 0) / zs + K[v][0][2];
    const at::Tensor w = K[v][1][1] * cam.select(1, 1) / zs + K[v][1][2];
    const at::Tensor col = u.floor(), row = w.floor();
    const at::Tensor in_view = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H);
    const at::Tensor pixel = (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)).to(at::kLong);
    const at::Tensor on_object = flat[v].index_select(0, pixel);
    seen |= in_view;
    carved |= in_view & ~on_object;
  }
  return seen & ~carved;
}

}  // namespace sds
