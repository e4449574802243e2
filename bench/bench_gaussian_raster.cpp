// Gaussian splatting forward+backward (projection, SH, tiles, compositing): the fused CPU ops
// against two compositions of plain ATen ops differentiated by autograd, and CUDA against CPU when
// a GPU is present. Both baselines project with the same ATen math (tests/reference) and are
// charged everything they do (projection, SH, binning, compositing, backward).
// - tiled: what a user would write in plain ATen/PyTorch: bin the Gaussians into 16 x 16 tiles by
//   their screen boxes, then composite each tile's Gaussians only, front to back, with tensor ops
//   (tiles of similar counts are batched, padded and masked, so each ATen op is large enough to
//   run on every thread). Run in full at every size and checked against the fused output.
// - dense: every pixel against every Gaussian, in chunks of pixels; where it would take minutes,
//   a few chunks are timed and the rest extrapolated linearly (pixels are independent), which the
//   table marks.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "bench_timing.h"
#include "reference/gaussian_reference.h"
#include "sds/ops/rasterize.h"

namespace {

using sds::bench::median_ms;
using sds::bench::sync;

namespace ops = sds::ops;

struct Scene {
  at::Tensor means, quats, scales, opacities, sh, viewmats, ks, bg;
  int64_t size;
  Scene to(const at::Device& d) const {
    return {means.to(d), quats.to(d), scales.to(d), opacities.to(d), sh.to(d), viewmats.to(d),
            ks.to(d),    bg.to(d),    size};
  }
};

// N Gaussians in a ball of radius 0.8, sized so that the ball stays similarly covered at every
// N; one camera at distance 3 with a 40-degree field of view.
Scene make_scene(int64_t n, int64_t size) {
  at::manual_seed(0);
  Scene s;
  s.size = size;
  at::Tensor dir = at::randn({n, 3});
  s.means = dir / dir.norm(2, 1, true) * 0.8 * at::rand({n, 1}).pow(1.0 / 3.0);
  s.quats = at::randn({n, 4});
  s.scales = (at::rand({n, 3}) * 0.5 + 0.75) * (0.5 / std::cbrt(static_cast<double>(n)));
  s.opacities = at::rand({n}) * 0.8 + 0.1;
  s.sh = at::randn({n, 1, 3}) * 0.5;
  const double f = 0.5 * static_cast<double>(size) / std::tan(20.0 * M_PI / 180.0);
  s.viewmats = at::eye(4).unsqueeze(0).clone();
  s.viewmats[0][2][3] = 3.0;  // camera at z = -3 looking down +z
  s.ks = at::tensor({static_cast<float>(f), 0.f, size / 2.f, 0.f, static_cast<float>(f), size / 2.f,
                     0.f, 0.f, 1.f})
             .view({1, 3, 3});
  s.bg = at::ones({1, 3});
  return s;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Images and the gradients of every Gaussian tensor (means, quats, scales, opacities, sh) of one
// forward+backward, for the equal-output check.
struct StepResult {
  at::Tensor rgb, alpha;  // [H, W, 3], [H, W, 1]
  std::vector<at::Tensor> grads;
};

std::vector<at::Tensor> leaves(const Scene& s) {
  return {s.means.detach().requires_grad_(true), s.quats.detach().requires_grad_(true),
          s.scales.detach().requires_grad_(true), s.opacities.detach().requires_grad_(true),
          s.sh.detach().requires_grad_(true)};
}

// The fused ops: rasterize() forward, then backward into every Gaussian tensor.
StepResult fused_step(const Scene& s) {
  const std::vector<at::Tensor> in = leaves(s);
  auto out =
      ops::rasterize(in[0], in[1], in[2], in[3], in[4], s.viewmats, s.ks, s.size, s.size, s.bg);
  std::vector<at::Tensor> grads = torch::autograd::grad({out.rgb.sum() + out.alpha.sum()}, in);
  sync(out.rgb);
  return {out.rgb[0], out.alpha[0], grads};
}

// The tiled baseline. Tile boxes are the projection's radii (gsplat's opacity-aware extent, at
// most 3.33 sigma): the fused rasteriser bins by the same boxes, and a plain 3-sigma box would
// drop tails that it composites (alpha up to 0.011 at 3 sigma), so the outputs would differ.
// Compositing follows gsplat: alpha = min(0.99, o exp(-sigma)), skipped below 1/255, stop before
// the transmittance falls to 1e-4, transmittance by an exclusive cumprod.
constexpr int64_t kTile = 16;
constexpr int64_t kTileBudget = 4'000'000;  // pixel-Gaussian pairs per batch of tiles

StepResult tiled_step(const Scene& s) {
  const std::vector<at::Tensor> in = leaves(s);
  const at::Tensor &m = in[0], &q = in[1], &sc = in[2], &op = in[3], &sh = in[4];
  const int64_t W = s.size, H = s.size;
  auto pr = sds::test::project_reference(m, q, sc, op, s.viewmats, s.ks, W, H);
  const at::Tensor colors =
      sds::test::spherical_harmonics_reference(0, m - ops::camera_centers(s.viewmats), sh);
  const at::Tensor means2d = pr.means2d[0], conics = pr.conics[0];  // one camera
  const at::Tensor opac = op * pr.compensations[0];
  const int64_t tx = (W + kTile - 1) / kTile, ty = (H + kTile - 1) / kTile, n_tiles = tx * ty;

  // Binning (not differentiable): every (tile, Gaussian) pair of the boxes, sorted by tile, then
  // depth (a stable sort by tile over pairs made in depth order).
  at::Tensor pair_tile, pair_gauss, counts, offsets;
  {
    at::NoGradGuard no_grad;
    const at::Tensor radii = pr.radii[0];
    at::Tensor ids = ((radii.select(1, 0) > 0) & (radii.select(1, 1) > 0)).nonzero().squeeze(1);
    ids = ids.index_select(0, at::argsort(pr.depths[0].detach().index_select(0, ids), true));
    const at::Tensor mu = means2d.detach().index_select(0, ids);
    const at::Tensor r = radii.index_select(0, ids);
    const auto lo = [](const at::Tensor& t, int64_t n) {
      return at::floor(t / kTile).clamp(0, n).to(at::kLong);
    };
    const auto hi = [](const at::Tensor& t, int64_t n) {
      return at::ceil(t / kTile).clamp(0, n).to(at::kLong);
    };
    const at::Tensor x0 = lo(mu.select(1, 0) - r.select(1, 0), tx);
    const at::Tensor x1 = hi(mu.select(1, 0) + r.select(1, 0), tx);
    const at::Tensor y0 = lo(mu.select(1, 1) - r.select(1, 1), ty);
    const at::Tensor y1 = hi(mu.select(1, 1) + r.select(1, 1), ty);
    const at::Tensor bw = (x1 - x0).clamp_min(0), cnt = bw * (y1 - y0).clamp_min(0);
    const at::Tensor owner = at::repeat_interleave(cnt);  // [M] index into ids
    const at::Tensor local = at::arange(owner.size(0), owner.options()) -
                             (at::cumsum(cnt, 0) - cnt).index_select(0, owner);
    const at::Tensor w_o = bw.index_select(0, owner);
    const at::Tensor tile = (y0.index_select(0, owner) + at::floor_divide(local, w_o)) * tx +
                            x0.index_select(0, owner) + at::remainder(local, w_o);
    const at::Tensor order = at::argsort(tile, true);
    pair_tile = tile.index_select(0, order);
    pair_gauss = ids.index_select(0, owner.index_select(0, order));
    counts = at::bincount(pair_tile, {}, n_tiles);
    offsets = at::cumsum(counts, 0) - counts;
  }

  // Tiles in order of count, batched so that a batch holds at most kTileBudget pairs and pads
  // each tile's list by at most a quarter (plus 8) of the batch's shortest.
  const at::Tensor tile_order = at::argsort(counts, true);
  const at::Tensor sorted_counts = counts.index_select(0, tile_order);
  const int64_t* cnt = sorted_counts.data_ptr<int64_t>();
  const int64_t P = kTile * kTile;
  const at::Tensor k = at::arange(P, at::kLong);
  const at::Tensor bg = s.bg[0];
  std::vector<at::Tensor> rgb_parts, alpha_parts;
  for (int64_t b = 0; b < n_tiles;) {
    int64_t e = b + 1;
    while (e < n_tiles && (e + 1 - b) * P * std::max<int64_t>(1, cnt[e]) <= kTileBudget &&
           4 * cnt[e] <= 5 * cnt[b] + 32) {
      ++e;
    }
    const int64_t G = e - b, L = std::max<int64_t>(1, cnt[e - 1]);
    const at::Tensor tiles = tile_order.slice(0, b, e);
    const at::Tensor slot = at::arange(L, at::kLong);
    const at::Tensor valid = slot.unsqueeze(0) < counts.index_select(0, tiles).unsqueeze(1);
    at::Tensor idx = offsets.index_select(0, tiles).unsqueeze(1) + slot.unsqueeze(0);  // [G, L]
    idx = at::where(valid, idx, 0).clamp_max(std::max<int64_t>(0, pair_gauss.size(0) - 1));
    at::Tensor g = pair_gauss.size(0) > 0 ? pair_gauss.index_select(0, idx.flatten())
                                          : at::zeros({G * L}, at::kLong);
    const at::Tensor mu = means2d.index_select(0, g).view({G, 1, L, 2});
    const at::Tensor con = conics.index_select(0, g).view({G, 1, L, 3});
    const at::Tensor col = colors.index_select(0, g).view({G, L, 3});
    const at::Tensor o = opac.index_select(0, g).view({G, 1, L});
    const at::Tensor px = (at::remainder(tiles, tx) * kTile).unsqueeze(1) + at::remainder(k, kTile);
    const at::Tensor py =
        (at::floor_divide(tiles, tx) * kTile).unsqueeze(1) + at::floor_divide(k, kTile);
    const at::Tensor dx = mu.select(3, 0) - (px.to(at::kFloat) + 0.5).unsqueeze(2);  // [G, P, L]
    const at::Tensor dy = mu.select(3, 1) - (py.to(at::kFloat) + 0.5).unsqueeze(2);
    const at::Tensor sigma = 0.5 * (con.select(3, 0) * dx * dx + con.select(3, 2) * dy * dy) +
                             con.select(3, 1) * dx * dy;
    at::Tensor alpha = at::clamp_max(o * at::exp(-sigma), 0.99);
    const at::Tensor keep = (sigma >= 0) & (alpha >= 1.0 / 255.0) & valid.unsqueeze(1);
    alpha = alpha * keep.to(alpha.scalar_type());
    const at::Tensor after = at::cumprod(1 - alpha.detach(), 2);
    alpha = alpha * (after > 1e-4).to(alpha.scalar_type());
    const at::Tensor one_minus = 1 - alpha;
    const at::Tensor trans = at::cumprod(
        at::cat({at::ones({G, P, 1}, alpha.options()), one_minus.slice(2, 0, L - 1)}, 2), 2);
    const at::Tensor t_final = at::prod(one_minus, 2, true);  // [G, P, 1]
    rgb_parts.push_back(at::bmm(alpha * trans, col) + t_final * bg);
    alpha_parts.push_back(1 - t_final);
    b = e;
  }
  // From tile order back to image order (pixels of partial tiles outside the image dropped).
  at::Tensor gather;
  {
    const at::Tensor px =
        (at::remainder(tile_order, tx) * kTile).unsqueeze(1) + at::remainder(k, kTile);
    const at::Tensor py =
        (at::floor_divide(tile_order, tx) * kTile).unsqueeze(1) + at::floor_divide(k, kTile);
    const at::Tensor inside = ((px < W) & (py < H)).flatten();
    const at::Tensor where = (py * W + px).flatten().masked_select(inside);
    gather = at::empty({H * W}, at::kLong);
    gather.index_copy_(0, where, at::arange(n_tiles * P, at::kLong).masked_select(inside));
  }
  const at::Tensor rgb = at::cat(rgb_parts).view({-1, 3}).index_select(0, gather).view({H, W, 3});
  const at::Tensor alpha =
      at::cat(alpha_parts).view({-1, 1}).index_select(0, gather).view({H, W, 1});
  std::vector<at::Tensor> grads = torch::autograd::grad({rgb.sum() + alpha.sum()}, in);
  return {rgb, alpha, grads};
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// Largest image difference, and largest gradient difference relative to the largest gradient,
// over the five Gaussian tensors.
std::pair<double, double> differences(const StepResult& a, const StepResult& b) {
  const double img = std::max(max_abs(a.rgb - b.rgb), max_abs(a.alpha - b.alpha));
  double grad = 0;
  for (size_t i = 0; i < a.grads.size(); ++i) {
    grad = std::max(grad, max_abs(a.grads[i] - b.grads[i]) / std::max(1e-30, max_abs(b.grads[i])));
  }
  return {img, grad};
}

// The dense baseline: reference projection + SH once, compositing over pixel chunks of at most
// kBudget pixel-Gaussian pairs; returns milliseconds and whether it was extrapolated.
constexpr int64_t kBudget = 10'000'000;
constexpr int64_t kTimedChunks = 2;

std::pair<double, bool> dense_ms(const Scene& s) {
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor m = s.means.detach().requires_grad_(true), q = s.quats.detach().requires_grad_(true),
             sc = s.scales.detach().requires_grad_(true),
             op = s.opacities.detach().requires_grad_(true),
             sh = s.sh.detach().requires_grad_(true);
  auto pr = sds::test::project_reference(m, q, sc, op, s.viewmats, s.ks, s.size, s.size);
  at::Tensor centers = ops::camera_centers(s.viewmats);
  at::Tensor dirs = m - centers;
  at::Tensor rgb = sds::test::spherical_harmonics_reference(0, dirs, sh).unsqueeze(0);
  at::Tensor visible = pr.radii.select(2, 0) > 0;
  const int64_t n_visible = visible.sum().item<int64_t>();
  const int64_t pixels = s.size * s.size;
  const int64_t chunk =
      std::max<int64_t>(1, std::min(pixels, kBudget / std::max<int64_t>(1, n_visible)));
  const int64_t n_chunks = (pixels + chunk - 1) / chunk;
  // Screen-space tensors as leaves: each chunk's backward lands in them, then one backward
  // through projection and SH, as autograd would do for the whole image.
  at::Tensor m2d = pr.means2d.detach().requires_grad_(true);
  at::Tensor con = pr.conics.detach().requires_grad_(true);
  at::Tensor col = rgb.detach().requires_grad_(true);
  at::Tensor opc = op.detach().unsqueeze(0).requires_grad_(true);
  auto [px, py] = sds::test::pixel_centers(s.size, s.size, m2d.options());
  const int64_t timed = std::min<int64_t>(n_chunks, kTimedChunks);
  auto c0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < timed; ++k) {
    const int64_t b = k * chunk, e = std::min(pixels, b + chunk);
    auto [c, a] = sds::test::composite_pixels_reference(
        m2d, con, col, opc, s.bg, pr.depths, visible, px.slice(0, b, e), py.slice(0, b, e));
    (c.sum() + a.sum()).backward();
  }
  auto c1 = std::chrono::steady_clock::now();
  const double chunk_ms = std::chrono::duration<double, std::milli>(c1 - c0).count() / timed;
  torch::autograd::grad(
      {(pr.means2d * m2d.grad()).sum() + (pr.conics * con.grad()).sum() + (rgb * col.grad()).sum()},
      {m, q, sc, sh}, {}, false, false, true);
  auto t1 = std::chrono::steady_clock::now();
  const double rest = std::chrono::duration<double, std::milli>(t1 - t0).count() -
                      chunk_ms * static_cast<double>(timed);
  return {rest + chunk_ms * static_cast<double>(n_chunks), timed < n_chunks};
}

}  // namespace

int main() {
  std::printf(
      "Gaussian splatting forward+backward (rgb.sum() + alpha.sum()), one camera, float32, "
      "CPU (%d threads); times are medians\n",
      at::get_num_threads());
  std::printf(
      "fused: sds::ops::rasterize + autograd (also composites depth, which the baselines "
      "skip). tiled / dense: plain ATen + autograd, see the top of this file.\n");
  std::printf(
      "dense column: x = extrapolated from %lld timed chunks of %lldM pixel-Gaussian pairs (not "
      "run in full); tiled: always run in full. ratio > 1: fused faster.\n",
      static_cast<long long>(kTimedChunks), static_cast<long long>(kBudget / 1000000));
  std::printf(
      "runs timed: fused median of 5 after a warm-up (3 at 100k); tiled median of 3, the "
      "checked run included (at 100k the checked run alone); dense once\n");
  std::printf("%9s %6s %10s %10s %7s %12s %1s %8s %11s %13s\n", "Gaussians", "pixels", "fused ms",
              "tiled ms", "tiled/", "dense ms", "x", "dense/", "max|d img|", "max|d grad|/");
  std::printf("%9s %6s %10s %10s %7s %12s %1s %8s %11s %13s\n", "", "", "", "", "fused", "", "",
              "fused", "tiled-fused", "max|grad|");
  for (int64_t n : {1000, 10000, 100000}) {
    for (int64_t size : {128, 256}) {
      const Scene s = make_scene(n, size);
      const int reps = n >= 100000 ? 3 : 5;
      const double fused = median_ms([&] { fused_step(s); }, s.means, 1, reps);
      // The checked run is the tiled baseline's first timed run.
      std::vector<double> tiled_runs;
      StepResult checked;
      {
        const auto t0 = std::chrono::steady_clock::now();
        checked = tiled_step(s);
        tiled_runs.push_back(ms_since(t0));
      }
      const auto [d_img, d_grad] = differences(checked, fused_step(s));
      checked = {};
      for (int i = 1; i < (n >= 100000 ? 1 : 3); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        tiled_step(s);
        tiled_runs.push_back(ms_since(t0));
      }
      std::nth_element(tiled_runs.begin(), tiled_runs.begin() + tiled_runs.size() / 2,
                       tiled_runs.end());
      const double tiled = tiled_runs[tiled_runs.size() / 2];
      auto [dense, extrapolated] = dense_ms(s);
      std::printf("%9lld %4lld^2 %10.2f %10.1f %6.1fx %12.1f %1s %7.1fx %11.2e %13.2e\n",
                  static_cast<long long>(n), static_cast<long long>(size), fused, tiled,
                  tiled / fused, dense, extrapolated ? "x" : "", dense / fused, d_img, d_grad);
      std::fflush(stdout);
    }
  }
#ifdef SDS_WITH_CUDA
  if (at::hasCUDA()) {
    const Scene cpu = make_scene(100000, 512);
    const Scene gpu = cpu.to(at::kCUDA);
    const double t_gpu = median_ms([&] { fused_step(gpu); }, gpu.means, 5, 51);
    const double t_cpu = median_ms([&] { fused_step(cpu); }, cpu.means, 1, 5);
    std::printf("\nCUDA, 100k Gaussians, 512^2, forward+backward: %.3f ms (CPU %.1f ms, %.1fx)\n",
                t_gpu, t_cpu, t_cpu / t_gpu);
  } else {
    std::printf("\nno CUDA device: the CUDA timings are skipped\n");
  }
#endif
  return 0;
}
