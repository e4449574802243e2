// The Gaussian splatting ops: each fused CPU kernel against the dense ATen reference (forward and
// autograd backward), float64 finite differences of every VJP, structure (a head-on Gaussian,
// tile coverage, depth order), bad input, and CUDA against CPU.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "testing.h"

#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include "helpers.h"
#include "reference/gaussian_reference.h"
#include "sds/core/error.h"
#include "sds/ops/gaussian_projection.h"
#include "sds/ops/gaussian_tiles.h"
#include "sds/ops/rasterize.h"
#include "sds/ops/rasterize_to_pixels.h"
#include "sds/ops/spherical_harmonics.h"

namespace {

using sds::test::max_abs_diff;
namespace ops = sds::ops;

at::Tensor vec3(double x, double y, double z) { return at::tensor({x, y, z}, at::kDouble); }

// World-to-camera [4, 4] (OpenCV axes) of a camera at `eye` looking at `target`.
at::Tensor look_at(const at::Tensor& eye, const at::Tensor& target, const at::Tensor& up) {
  at::Tensor z = (target - eye) / (target - eye).norm();
  at::Tensor x = at::cross(z, up, 0);
  x = x / x.norm();
  at::Tensor y = at::cross(z, x, 0);
  at::Tensor rot = at::stack({x, y, z});
  at::Tensor v = at::eye(4, at::kDouble);
  v.slice(0, 0, 3).slice(1, 0, 3).copy_(rot);
  v.slice(0, 0, 3).select(1, 3).copy_(-at::matmul(rot, eye));
  return v;
}

at::Tensor intrinsics(double f, int64_t w, int64_t h) {
  return at::tensor({f, 0.0, w / 2.0, 0.0, f, h / 2.0, 0.0, 0.0, 1.0}, at::kDouble).view({3, 3});
}

struct Scene {
  at::Tensor means, quats, scales, opacities, sh, viewmats, ks;
  int64_t width, height;

  Scene to(at::ScalarType t, at::Device d = at::kCPU) const {
    return {means.to(d, t), quats.to(d, t), scales.to(d, t), opacities.to(d, t), sh.to(d, t),
            viewmats.to(d, t), ks.to(d, t), width, height};
  }
};

// N Gaussians in a ball of radius 0.8 seen by cameras on a circle of radius 4; one Gaussian far
// to the side (its Jacobian is clamped) and large enough to reach into the image.
Scene random_scene(int64_t N, int64_t C, int64_t width, int64_t height, uint64_t seed,
                   int64_t sh_degree = 0) {
  at::manual_seed(seed);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  Scene s;
  s.width = width;
  s.height = height;
  s.means = (at::rand({N, 3}, opts) * 2 - 1) * 0.8;
  s.quats = at::randn({N, 4}, opts);
  s.scales = at::rand({N, 3}, opts) * 0.12 + 0.03;
  s.opacities = at::rand({N}, opts) * 0.85 + 0.1;
  s.sh = at::randn({N, (sh_degree + 1) * (sh_degree + 1), 3}, opts) * 0.4;
  if (N > 1) {
    s.means[0] = vec3(2.2, 0.1, 0.0);
    s.scales[0] = vec3(0.6, 0.4, 0.5);
  }
  if (N > 20) {
    s.means[1] = vec3(0.0, 30.0, 0.0);  // outside every view: culled by its box
    s.opacities[2] = 0.002;             // fainter than 1/255: culled
  }
  std::vector<at::Tensor> views, ks;
  for (int64_t c = 0; c < C; ++c) {
    const double a = 0.7 + 1.9 * static_cast<double>(c);
    at::Tensor eye = vec3(4 * std::cos(a), 0.8 + 0.3 * static_cast<double>(c), 4 * std::sin(a));
    views.push_back(look_at(eye, vec3(0, 0, 0), vec3(0, 1, 0)));
    ks.push_back(intrinsics(1.1 * static_cast<double>(width), width, height));
  }
  s.viewmats = at::stack(views);
  s.ks = at::stack(ks);
  return s;
}

ops::ProjectedGaussians project(const Scene& s, const ops::ProjectionOptions& o = {}) {
  return ops::project_gaussians(s.means, s.quats, s.scales, s.opacities, s.viewmats, s.ks,
                                s.width, s.height, o);
}

// The gradients of sum(w * out) for every output, by autograd.
std::vector<at::Tensor> grads_of(const std::vector<at::Tensor>& outputs,
                                 const std::vector<at::Tensor>& weights,
                                 const std::vector<at::Tensor>& inputs) {
  at::Tensor loss = at::zeros({}, outputs[0].options());
  for (size_t k = 0; k < outputs.size(); ++k) loss = loss + (outputs[k] * weights[k]).sum();
  return torch::autograd::grad({loss}, inputs, {}, /*retain_graph=*/false,
                               /*create_graph=*/false, /*allow_unused=*/true);
}

at::Tensor leaf(const at::Tensor& t) { return t.detach().clone().set_requires_grad(true); }

}  // namespace

TEST_CASE("spherical harmonics match the 3DGS basis and its finite differences",
          "[gaussian][sh]") {
  at::manual_seed(3);
  for (int64_t degree = 0; degree <= 3; ++degree) {
    const int64_t K = (degree + 1) * (degree + 1);
    at::Tensor dirs = leaf(at::randn({64, 3}, at::kDouble) * 2);
    at::Tensor coeffs = leaf(at::randn({64, K + 2, 3}, at::kDouble) * 0.5);  // extra ignored
    at::Tensor out = ops::spherical_harmonics(degree, dirs, coeffs);
    at::Tensor ref = sds::test::spherical_harmonics_reference(degree, dirs, coeffs);
    CHECK(max_abs_diff(out, ref) < 1e-12);
    CHECK((ref.detach() == 0).any().item<bool>() == (degree > 0));  // the clamp is exercised
    at::Tensor w = at::randn({64, 3}, at::kDouble);
    auto g = grads_of({out}, {w}, {dirs, coeffs});
    auto r = grads_of({ref}, {w}, {dirs, coeffs});
    CHECK(max_abs_diff(g[1], r[1]) < 1e-12);
    if (degree > 0) {
      CHECK(max_abs_diff(g[0], r[0]) < 1e-10);
    } else {
      CHECK_FALSE(g[0].defined());  // degree 0 does not depend on the direction
    }
    // Finite differences on a few rows (float64).
    at::Tensor d0 = dirs.detach().slice(0, 0, 6), c0 = coeffs.detach().slice(0, 0, 6);
    at::Tensor w0 = w.slice(0, 0, 6);
    auto loss_d = [&](const at::Tensor& d) {
      return (ops::spherical_harmonics(degree, d, c0) * w0).sum();
    };
    auto loss_c = [&](const at::Tensor& c) {
      return (ops::spherical_harmonics(degree, d0, c) * w0).sum();
    };
    at::Tensor dl = leaf(d0), cl = leaf(c0);
    auto gb = grads_of({ops::spherical_harmonics(degree, dl, cl)}, {w0}, {dl, cl});
    CHECK(max_abs_diff(gb[1], sds::test::finite_difference(loss_c, c0)) < 1e-7);
    if (degree > 0) CHECK(max_abs_diff(gb[0], sds::test::finite_difference(loss_d, d0)) < 1e-7);
  }
}

TEST_CASE("projection matches the dense reference, forward and backward", "[gaussian][projection]") {
  for (bool aa : {false, true}) {
    Scene s = random_scene(150, 3, 64, 48, 11);
    ops::ProjectionOptions o;
    o.antialiased = aa;
    at::Tensor means = leaf(s.means), quats = leaf(s.quats), scales = leaf(s.scales);
    auto p = ops::project_gaussians(means, quats, scales, s.opacities, s.viewmats, s.ks, s.width,
                                    s.height, o);
    auto r = sds::test::project_reference(means, quats, scales, s.opacities, s.viewmats, s.ks,
                                          s.width, s.height, 0.3, aa);
    at::Tensor vis = p.radii.select(2, 0) > 0;
    // Radii agree (to one pixel, ceil of nearly equal values); every culled pair is culled.
    CHECK(at::equal(vis, r.radii.select(2, 0) > 0));
    CHECK(max_abs_diff(p.radii.to(at::kDouble), r.radii) <= 1.0);
    const int64_t visible = vis.sum().item<int64_t>();
    CHECK(visible > 200);
    CHECK(visible < 450);  // some pairs are culled
    at::Tensor mask = vis.unsqueeze(-1).to(at::kDouble);
    CHECK(max_abs_diff(p.means2d * mask, r.means2d * mask) < 1e-9);
    CHECK(max_abs_diff(p.depths * mask.squeeze(-1), r.depths * mask.squeeze(-1)) < 1e-12);
    CHECK(max_abs_diff(p.conics * mask, r.conics * mask) < 1e-9);
    CHECK(max_abs_diff(p.compensations * mask.squeeze(-1), r.compensations * mask.squeeze(-1)) <
          1e-12);
    // Backward: random upstream gradients on visible pairs.
    at::Tensor w_m = at::randn_like(p.means2d) * mask, w_d = at::randn_like(p.depths) * mask.squeeze(-1);
    at::Tensor w_c = at::randn_like(p.conics) * mask * 10;
    at::Tensor w_p = at::randn_like(p.compensations) * mask.squeeze(-1);
    auto g = grads_of({p.means2d, p.depths, p.conics, p.compensations}, {w_m, w_d, w_c, w_p},
                      {means, quats, scales});
    auto gr = grads_of({r.means2d, r.depths, r.conics, r.compensations}, {w_m, w_d, w_c, w_p},
                       {means, quats, scales});
    for (int k = 0; k < 3; ++k) {
      const double scale = gr[k].abs().max().item<double>();
      INFO("input " << k << " antialiased " << aa);
      CHECK(max_abs_diff(g[k], gr[k]) < 1e-9 * std::max(1.0, scale));
    }
  }
}

TEST_CASE("projection VJPs match float64 finite differences", "[gaussian][projection]") {
  Scene s = random_scene(5, 2, 40, 32, 5);
  for (bool aa : {false, true}) {
    ops::ProjectionOptions o;
    o.antialiased = aa;
    auto p0 = project(s, o);
    at::Tensor vis = (p0.radii.select(2, 0) > 0).to(at::kDouble);
    REQUIRE(vis.select(1, 0).sum().item<double>() >= 1);  // the clamped Gaussian is visible
    at::manual_seed(9);
    at::Tensor w_m = at::randn({2, 5, 2}, at::kDouble) * vis.unsqueeze(-1);
    at::Tensor w_d = at::randn({2, 5}, at::kDouble) * vis;
    at::Tensor w_c = at::randn({2, 5, 3}, at::kDouble) * vis.unsqueeze(-1) * 10;
    at::Tensor w_p = at::randn({2, 5}, at::kDouble) * vis;
    auto loss = [&](const at::Tensor& m, const at::Tensor& q, const at::Tensor& sc) {
      auto p = ops::project_gaussians(m, q, sc, s.opacities, s.viewmats, s.ks, s.width, s.height, o);
      return (p.means2d * w_m).sum() + (p.depths * w_d).sum() + (p.conics * w_c).sum() +
             (p.compensations * w_p).sum();
    };
    at::Tensor m = leaf(s.means), q = leaf(s.quats), sc = leaf(s.scales);
    auto g = torch::autograd::grad({loss(m, q, sc)}, {m, q, sc});
    CHECK(max_abs_diff(g[0], sds::test::finite_difference(
                                 [&](const at::Tensor& x) { return loss(x, s.quats, s.scales); },
                                 s.means)) < 1e-5);
    CHECK(max_abs_diff(g[1], sds::test::finite_difference(
                                 [&](const at::Tensor& x) { return loss(s.means, x, s.scales); },
                                 s.quats)) < 1e-5);
    CHECK(max_abs_diff(g[2], sds::test::finite_difference(
                                 [&](const at::Tensor& x) { return loss(s.means, s.quats, x); },
                                 s.scales)) < 1e-5);
  }
}

TEST_CASE("tile binning covers exactly the tiles each box touches, sorted by depth",
          "[gaussian][tiles]") {
  Scene s = random_scene(120, 2, 72, 50, 21);
  auto p = project(s);
  auto t = ops::intersect_tiles(p.means2d, p.radii, p.depths, s.width, s.height, 16);
  CHECK(t.tiles_x == 5);
  CHECK(t.tiles_y == 4);
  const int64_t M = t.flatten_ids.size(0);
  REQUIRE(M > 120);
  // Keys ascend; each tile's run is ordered by depth.
  at::Tensor keys = t.isect_ids;
  CHECK((keys.slice(0, 1) >= keys.slice(0, 0, -1)).all().item<bool>());
  std::set<std::tuple<int64_t, int64_t, int64_t>> got;  // (pair, tile x, tile y)
  auto ids = t.flatten_ids.accessor<int32_t, 1>();
  auto offs = t.offsets.view({-1});
  const int64_t per_image = t.tiles_x * t.tiles_y;
  for (int64_t b = 0; b < 2 * per_image; ++b) {
    const int64_t start = offs[b].item<int64_t>();
    const int64_t end = b + 1 < 2 * per_image ? offs[b + 1].item<int64_t>() : M;
    double prev_depth = 0;
    for (int64_t k = start; k < end; ++k) {
      const int64_t pair = ids[k];
      CHECK(pair / 120 == b / per_image);  // the run belongs to its image
      const double depth = p.depths.view({-1})[pair].item<double>();
      CHECK(depth >= prev_depth);
      prev_depth = depth;
      got.insert({pair, (b % per_image) % t.tiles_x, (b % per_image) / t.tiles_x});
    }
  }
  CHECK(static_cast<int64_t>(got.size()) == M);  // no duplicates
  // Brute force: a box (m - r, m + r) touches tile [16 t, 16 t + 16) iff the open ranges overlap.
  std::set<std::tuple<int64_t, int64_t, int64_t>> want;
  auto m = p.means2d.view({-1, 2}), r = p.radii.view({-1, 2});
  for (int64_t pair = 0; pair < 240; ++pair) {
    const double rx = r[pair][0].item<double>(), ry = r[pair][1].item<double>();
    if (rx <= 0) continue;
    const double mx = m[pair][0].item<double>(), my = m[pair][1].item<double>();
    for (int64_t ty = 0; ty < t.tiles_y; ++ty) {
      for (int64_t tx = 0; tx < t.tiles_x; ++tx) {
        if (16.0 * tx < mx + rx && 16.0 * (tx + 1) > mx - rx && 16.0 * ty < my + ry &&
            16.0 * (ty + 1) > my - ry) {
          want.insert({pair, tx, ty});
        }
      }
    }
  }
  CHECK(got.size() == want.size());
  CHECK((got == want));
}

namespace {

struct RasterCase {
  Scene scene;
  ops::ProjectedGaussians proj;
  ops::TileIntersections tiles;
  at::Tensor colors, opacities, backgrounds, visible;
};

RasterCase raster_case(int64_t N, int64_t C, int64_t w, int64_t h, int64_t D, uint64_t seed,
                       int64_t tile = 16) {
  RasterCase rc;
  rc.scene = random_scene(N, C, w, h, seed);
  rc.proj = project(rc.scene);
  rc.tiles = ops::intersect_tiles(rc.proj.means2d, rc.proj.radii, rc.proj.depths, w, h, tile);
  rc.colors = at::rand({C, N, D}, at::kDouble);
  rc.opacities = rc.scene.opacities.unsqueeze(0).expand({C, N}).contiguous();
  rc.backgrounds = at::rand({C, D}, at::kDouble);
  rc.visible = rc.proj.radii.select(2, 0) > 0;
  return rc;
}

}  // namespace

TEST_CASE("compositing matches the dense reference, forward and backward",
          "[gaussian][raster]") {
  // Beyond its box a splat is under the 1/255 cut, so the tile size cannot change the image:
  // every size (odd ones, and 32, the largest CUDA block) must match the same dense reference.
  for (auto [D, tile] : {std::pair<int64_t, int64_t>{1, 16}, {3, 16}, {4, 16}, {3, 1}, {3, 4},
                         {3, 12}, {3, 32}}) {
    RasterCase rc = raster_case(200, 2, 64, 56, D, 30 + D, tile);
    at::Tensor m2d = leaf(rc.proj.means2d), con = leaf(rc.proj.conics), col = leaf(rc.colors),
               op = leaf(rc.opacities), bg = leaf(rc.backgrounds);
    auto out = ops::rasterize_to_pixels(m2d, con, col, op, bg, 64, 56, rc.tiles);
    auto [ref_c, ref_a] = sds::test::rasterize_reference(m2d, con, col, op, bg, rc.proj.depths,
                                                         rc.visible, 64, 56);
    INFO("channels " << D << ", tile " << tile);
    CHECK(max_abs_diff(out.colors, ref_c) < 1e-10);
    CHECK(max_abs_diff(out.alphas, ref_a) < 1e-10);
    CHECK(ref_a.max().item<double>() > 0.9);  // some pixels are nearly opaque
    at::Tensor w_c = at::randn_like(out.colors), w_a = at::randn_like(out.alphas);
    auto g = grads_of({out.colors, out.alphas}, {w_c, w_a}, {m2d, con, col, op, bg});
    auto r = grads_of({ref_c, ref_a}, {w_c, w_a}, {m2d, con, col, op, bg});
    for (int k = 0; k < 5; ++k) {
      INFO("input " << k);
      at::Tensor want = r[k].defined() ? r[k] : at::zeros_like(g[k]);
      CHECK(max_abs_diff(g[k], want) < 1e-9 * std::max(1.0, want.abs().max().item<double>()));
    }
  }
}

TEST_CASE("compositing VJPs match float64 finite differences", "[gaussian][raster]") {
  RasterCase rc = raster_case(8, 1, 20, 18, 3, 44);
  const at::Tensor& m0 = rc.proj.means2d;
  const at::Tensor& c0 = rc.proj.conics;
  at::Tensor w_c = at::randn({1, 18, 20, 3}, at::kDouble), w_a = at::randn({1, 18, 20, 1}, at::kDouble);
  auto loss = [&](const at::Tensor& m, const at::Tensor& c, const at::Tensor& col,
                  const at::Tensor& op, const at::Tensor& bg) {
    auto out = ops::rasterize_to_pixels(m, c, col, op, bg, 20, 18, rc.tiles);
    return (out.colors * w_c).sum() + (out.alphas * w_a).sum();
  };
  at::Tensor m = leaf(m0), c = leaf(c0), col = leaf(rc.colors), op = leaf(rc.opacities),
             bg = leaf(rc.backgrounds);
  auto g = torch::autograd::grad({loss(m, c, col, op, bg)}, {m, c, col, op, bg});
  const auto& s = rc;
  auto fd_m = sds::test::finite_difference(
      [&](const at::Tensor& x) { return loss(x, c0, s.colors, s.opacities, s.backgrounds); }, m0);
  auto fd_c = sds::test::finite_difference(
      [&](const at::Tensor& x) { return loss(m0, x, s.colors, s.opacities, s.backgrounds); }, c0);
  auto fd_col = sds::test::finite_difference(
      [&](const at::Tensor& x) { return loss(m0, c0, x, s.opacities, s.backgrounds); }, s.colors);
  auto fd_op = sds::test::finite_difference(
      [&](const at::Tensor& x) { return loss(m0, c0, s.colors, x, s.backgrounds); }, s.opacities);
  auto fd_bg = sds::test::finite_difference(
      [&](const at::Tensor& x) { return loss(m0, c0, s.colors, s.opacities, x); }, s.backgrounds);
  CHECK(g[0].abs().max().item<double>() > 1e-3);
  CHECK(max_abs_diff(g[0], fd_m) < 1e-5);
  CHECK(max_abs_diff(g[1], fd_c) < 1e-4);
  CHECK(max_abs_diff(g[2], fd_col) < 1e-6);
  CHECK(max_abs_diff(g[3], fd_op) < 1e-6);
  CHECK(max_abs_diff(g[4], fd_bg) < 1e-6);
}

TEST_CASE("a single Gaussian seen head-on renders the analytic 2D Gaussian", "[gaussian][raster]") {
  const int64_t W = 48, H = 40;
  const double f = 50.0, dist = 4.0, sigma = 0.2, o = 0.8;
  at::Tensor means = at::zeros({1, 3}, at::kDouble);
  at::Tensor quats = at::tensor({0.3, -0.5, 0.2, 0.7}, at::kDouble).view({1, 4});  // isotropic: any
  at::Tensor scales = at::full({1, 3}, sigma, at::kDouble);
  at::Tensor opac = at::full({1}, o, at::kDouble);
  at::Tensor colors = at::tensor({0.9, 0.2, 0.4}, at::kDouble).view({1, 3});
  at::Tensor view = look_at(vec3(0, 0, -dist), vec3(0, 0, 0), vec3(0, 1, 0)).unsqueeze(0);
  at::Tensor k = intrinsics(f, W, H).unsqueeze(0);
  at::Tensor bg = at::tensor({0.1, 0.3, 0.2}, at::kDouble).view({1, 3});
  auto out = ops::rasterize(means, quats, scales, opac, colors, view, k, W, H, bg);
  // Screen variance (f sigma / z)^2 + 0.3 (the low-pass dilation), centred on the image.
  const double var = std::pow(f * sigma / dist, 2) + 0.3;
  at::Tensor jj = at::arange(W, at::kDouble) + 0.5 - W / 2.0;
  at::Tensor ii = at::arange(H, at::kDouble) + 0.5 - H / 2.0;
  at::Tensor r2 = ii.view({H, 1}).pow(2) + jj.view({1, W}).pow(2);
  at::Tensor alpha = o * at::exp(-0.5 * r2 / var);
  alpha = at::where(alpha >= 1.0 / 255.0, alpha, at::zeros_like(alpha));
  at::Tensor want = alpha.unsqueeze(-1) * colors + (1 - alpha).unsqueeze(-1) * bg;
  CHECK(max_abs_diff(out.rgb[0], want) < 1e-12);
  CHECK(max_abs_diff(out.alpha[0].squeeze(-1), alpha) < 1e-12);
  // Expected depth is the Gaussian's z wherever it is drawn.
  at::Tensor drawn = alpha > 0;
  CHECK(max_abs_diff(out.depth[0].squeeze(-1).index({drawn}),
                     at::full({drawn.sum().item<int64_t>()}, dist, at::kDouble)) < 1e-12);
  CHECK(out.depth[0].squeeze(-1).index({~drawn}).abs().max().item<double>() == 0);
}

TEST_CASE("rasterize end to end: dense reference and finite differences through every stage",
          "[gaussian][rasterize]") {
  Scene s = random_scene(60, 2, 40, 36, 61, /*sh_degree=*/2);
  ops::RasterizeOptions o;
  o.sh_degree = 2;
  at::Tensor bg = at::rand({2, 3}, at::kDouble);
  at::Tensor w_rgb = at::randn({2, 36, 40, 3}, at::kDouble), w_a = at::randn({2, 36, 40, 1}, at::kDouble),
             w_d = at::randn({2, 36, 40, 1}, at::kDouble) * 0.1;
  auto loss = [&](const at::Tensor& m, const at::Tensor& q, const at::Tensor& sc,
                  const at::Tensor& op, const at::Tensor& sh) {
    auto out = ops::rasterize(m, q, sc, op, sh, s.viewmats, s.ks, s.width, s.height, bg, o);
    return (out.rgb * w_rgb).sum() + (out.alpha * w_a).sum() + (out.depth * w_d).sum();
  };
  // Against the dense reference composed of the reference stages.
  at::Tensor m = leaf(s.means), q = leaf(s.quats), sc = leaf(s.scales), op = leaf(s.opacities),
             sh = leaf(s.sh);
  auto out = ops::rasterize(m, q, sc, op, sh, s.viewmats, s.ks, s.width, s.height, bg, o);
  auto pr = sds::test::project_reference(m, q, sc, op, s.viewmats, s.ks, s.width, s.height);
  at::Tensor centers = ops::camera_centers(s.viewmats);
  at::Tensor dirs = (m.unsqueeze(0) - centers.unsqueeze(1)).reshape({-1, 3});
  at::Tensor rgb = sds::test::spherical_harmonics_reference(
                       2, dirs, sh.unsqueeze(0).expand({2, 60, 9, 3}).reshape({-1, 9, 3}))
                       .view({2, 60, 3});
  at::Tensor feats = at::cat({rgb, pr.depths.unsqueeze(-1)}, -1);
  at::Tensor bg4 = at::cat({bg, at::zeros({2, 1}, at::kDouble)}, -1);
  auto [rc, ra] = sds::test::rasterize_reference(pr.means2d, pr.conics, feats,
                                                 op.unsqueeze(0).expand({2, 60}), bg4, pr.depths,
                                                 pr.radii.select(2, 0) > 0, 40, 36);
  CHECK(max_abs_diff(out.rgb, rc.slice(-1, 0, 3)) < 1e-9);
  CHECK(max_abs_diff(out.alpha, ra) < 1e-9);
  at::Tensor ref_depth = at::where(ra > 1e-10, rc.slice(-1, 3, 4) / ra.clamp_min(1e-10), 0.0);
  CHECK(max_abs_diff(out.depth, ref_depth) < 1e-8);
  // Finite differences for every Gaussian tensor.
  auto g = torch::autograd::grad({loss(m, q, sc, op, sh)}, {m, q, sc, op, sh});
  using FD = std::function<at::Tensor(const at::Tensor&)>;
  const std::vector<std::pair<FD, at::Tensor>> cases = {
      {[&](const at::Tensor& x) { return loss(x, s.quats, s.scales, s.opacities, s.sh); }, s.means},
      {[&](const at::Tensor& x) { return loss(s.means, x, s.scales, s.opacities, s.sh); }, s.quats},
      {[&](const at::Tensor& x) { return loss(s.means, s.quats, x, s.opacities, s.sh); }, s.scales},
      {[&](const at::Tensor& x) { return loss(s.means, s.quats, s.scales, x, s.sh); }, s.opacities},
      {[&](const at::Tensor& x) { return loss(s.means, s.quats, s.scales, s.opacities, x); }, s.sh}};
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("input " << k);
    at::Tensor fd = sds::test::finite_difference(cases[k].first, cases[k].second);
    CHECK(max_abs_diff(g[k], fd) < 1e-5 * std::max(1.0, fd.abs().max().item<double>()));
  }
}

TEST_CASE("the Gaussian ops reject bad input with sds::Error", "[gaussian][errors]") {
  Scene s = random_scene(10, 1, 32, 32, 2);
  auto run = [&](Scene x) { return project(x); };
  REQUIRE_NOTHROW(run(s));
  Scene bad = s;
  bad.means = s.means.clone();
  bad.means[3][1] = NAN;
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.means = s.means.slice(1, 0, 2);
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.quats = s.quats.clone();
  bad.quats[2].zero_();
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.scales = -s.scales;
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.opacities = s.opacities + 1;
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.quats = s.quats.to(at::kFloat);
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.viewmats = s.viewmats.clone();
  bad.viewmats[0][0][0] = 3.0;  // not a rotation
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.ks = s.ks.clone();
  bad.ks[0][0][0] = 0.0;  // zero focal length
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  bad = s;
  bad.width = 0;
  REQUIRE_THROWS_AS(run(bad), sds::Error);
  REQUIRE_THROWS_AS(ops::spherical_harmonics(4, at::zeros({2, 3}), at::zeros({2, 25, 3})),
                    sds::Error);
  REQUIRE_THROWS_AS(ops::spherical_harmonics(2, at::zeros({2, 3}), at::zeros({2, 4, 3})),
                    sds::Error);
  auto p = project(s);
  auto tiles = ops::intersect_tiles(p.means2d, p.radii, p.depths, 32, 32);
  at::Tensor op = s.opacities.unsqueeze(0);
  REQUIRE_NOTHROW(ops::rasterize_to_pixels(p.means2d, p.conics, at::zeros({1, 10, 3}, at::kDouble),
                                           op, at::Tensor(), 32, 32, tiles));
  REQUIRE_THROWS_AS(ops::rasterize_to_pixels(p.means2d, p.conics,
                                             at::zeros({1, 10, 5}, at::kDouble), op, at::Tensor(),
                                             32, 32, tiles),
                    sds::Error);  // too many channels
  REQUIRE_THROWS_AS(ops::rasterize_to_pixels(p.means2d, p.conics,
                                             at::zeros({1, 10, 3}, at::kDouble), op, at::Tensor(),
                                             64, 32, tiles),
                    sds::Error);  // binned for another size
  REQUIRE_THROWS_AS(ops::intersect_tiles(p.means2d, p.radii.to(at::kLong), p.depths, 32, 32),
                    sds::Error);
  REQUIRE_THROWS_AS(ops::rasterize(s.means, s.quats, s.scales, s.opacities, at::zeros({10, 7}),
                                   s.viewmats, s.ks, 32, 32, at::Tensor()),
                    sds::Error);
}

TEST_CASE("the CUDA splatting kernels match the CPU ones", "[gaussian][cuda]") {
  SDS_REQUIRE_CUDA();
  // Tile 16 in both precisions; the other sizes exercise the backward's padded warps (tile 1, 4
  // and 12 do not fill whole warps) and the opt-in shared memory (32 in float64).
  for (const auto& run_case : {std::pair<at::ScalarType, int64_t>{at::kFloat, 16},
                               {at::kDouble, 16}, {at::kDouble, 1}, {at::kDouble, 4},
                               {at::kDouble, 12}, {at::kDouble, 32}}) {
    const at::ScalarType dtype = run_case.first;
    const int64_t tile = run_case.second;
    Scene cpu = random_scene(2000, 3, 96, 80, 71, 3).to(dtype);
    Scene gpu = cpu.to(dtype, at::kCUDA);
    ops::RasterizeOptions o;
    o.sh_degree = 3;
    o.projection.antialiased = true;
    o.tile_size = tile;
    at::Tensor bg = at::rand({3, 3}, at::kDouble).to(dtype);
    auto run = [&](const Scene& x, const at::Tensor& b) {
      at::Tensor m = leaf(x.means), q = leaf(x.quats), sc = leaf(x.scales), op = leaf(x.opacities),
                 sh = leaf(x.sh), bgl = leaf(b);
      auto out = ops::rasterize(m, q, sc, op, sh, x.viewmats, x.ks, x.width, x.height, bgl, o);
      at::manual_seed(5);
      at::Tensor w = at::randn(out.rgb.sizes(), at::TensorOptions().dtype(dtype)).to(m.device());
      at::Tensor wa = at::randn(out.alpha.sizes(), at::TensorOptions().dtype(dtype)).to(m.device());
      auto g = torch::autograd::grad({(out.rgb * w).sum() + (out.alpha * wa).sum() +
                                      (out.depth * wa).sum() * 0.01},
                                     {m, q, sc, op, sh, bgl});
      return std::make_pair(out, g);
    };
    auto [oc, gc] = run(cpu, bg);
    auto [og, gg] = run(gpu, bg.cuda());
    const double tol = dtype == at::kFloat ? 1e-4 : 1e-10;
    INFO("dtype " << c10::toString(dtype) << ", tile " << tile);
    CHECK(at::equal(oc.meta.radii, og.meta.radii.cpu()));
    CHECK(at::equal(oc.meta.tiles.isect_ids, og.meta.tiles.isect_ids.cpu()));
    CHECK(at::equal(oc.meta.tiles.flatten_ids, og.meta.tiles.flatten_ids.cpu()));
    CHECK(at::equal(oc.meta.tiles.offsets, og.meta.tiles.offsets.cpu()));
    CHECK(max_abs_diff(oc.rgb, og.rgb) < tol);
    CHECK(max_abs_diff(oc.alpha, og.alpha) < tol);
    CHECK(max_abs_diff(oc.depth, og.depth) < tol * 10);
    for (size_t k = 0; k < gc.size(); ++k) {
      INFO("gradient " << k);
      const double scale = std::max(1.0, gc[k].abs().max().item<double>());
      CHECK(max_abs_diff(gc[k], gg[k]) < tol * 10 * scale);
    }
  }
}
