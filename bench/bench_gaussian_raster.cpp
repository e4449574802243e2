// Gaussian splatting forward+backward (projection, SH, tiles, compositing): the fused CPU ops
// against the same math composed from dense ATen ops and differentiated by autograd (the
// baseline, every pixel against every Gaussian), and CUDA against CPU when a GPU is present.
// The dense baseline is run in chunks of pixels; where it would take minutes, a few chunks are
// timed and the rest extrapolated linearly (pixels are independent), which the output says.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "reference/gaussian_reference.h"
#include "sds/ops/rasterize.h"

#ifdef SDS_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace {

namespace ops = sds::ops;

struct Scene {
  at::Tensor means, quats, scales, opacities, sh, viewmats, ks, bg;
  int64_t size;
  Scene to(const at::Device& d) const {
    return {means.to(d), quats.to(d), scales.to(d), opacities.to(d), sh.to(d),
            viewmats.to(d), ks.to(d), bg.to(d), size};
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
  s.ks = at::tensor({static_cast<float>(f), 0.f, size / 2.f, 0.f, static_cast<float>(f),
                     size / 2.f, 0.f, 0.f, 1.f})
             .view({1, 3, 3});
  s.bg = at::ones({1, 3});
  return s;
}

void sync(const at::Tensor& t) {
#ifdef SDS_WITH_CUDA
  if (t.is_cuda()) at::cuda::getCurrentCUDAStream().synchronize();
#endif
}

double median_ms(const std::function<void()>& step, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// The fused ops: rasterize() forward, then backward into every Gaussian tensor.
void fused_step(const Scene& s) {
  at::Tensor m = s.means.detach().requires_grad_(true), q = s.quats.detach().requires_grad_(true),
             sc = s.scales.detach().requires_grad_(true),
             op = s.opacities.detach().requires_grad_(true), sh = s.sh.detach().requires_grad_(true);
  auto out = ops::rasterize(m, q, sc, op, sh, s.viewmats, s.ks, s.size, s.size, s.bg);
  torch::autograd::grad({out.rgb.sum() + out.alpha.sum()}, {m, q, sc, op, sh});
  sync(out.rgb);
}

// The dense baseline: reference projection + SH once, compositing over pixel chunks of at most
// kBudget pixel-Gaussian pairs; returns milliseconds and whether it was extrapolated.
constexpr int64_t kBudget = 20'000'000;

std::pair<double, bool> dense_ms(const Scene& s) {
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor m = s.means.detach().requires_grad_(true), q = s.quats.detach().requires_grad_(true),
             sc = s.scales.detach().requires_grad_(true),
             op = s.opacities.detach().requires_grad_(true), sh = s.sh.detach().requires_grad_(true);
  auto pr = sds::test::project_reference(m, q, sc, op, s.viewmats, s.ks, s.size, s.size);
  at::Tensor centers = ops::camera_centers(s.viewmats);
  at::Tensor dirs = m - centers;
  at::Tensor rgb = sds::test::spherical_harmonics_reference(0, dirs, sh).unsqueeze(0);
  at::Tensor visible = pr.radii.select(2, 0) > 0;
  const int64_t n_visible = visible.sum().item<int64_t>();
  const int64_t pixels = s.size * s.size;
  const int64_t chunk = std::max<int64_t>(1, std::min(pixels, kBudget / std::max<int64_t>(1, n_visible)));
  const int64_t n_chunks = (pixels + chunk - 1) / chunk;
  // Screen-space tensors as leaves: each chunk's backward lands in them, then one backward
  // through projection and SH, as autograd would do for the whole image.
  at::Tensor m2d = pr.means2d.detach().requires_grad_(true);
  at::Tensor con = pr.conics.detach().requires_grad_(true);
  at::Tensor col = rgb.detach().requires_grad_(true);
  at::Tensor opc = op.detach().unsqueeze(0).requires_grad_(true);
  auto [px, py] = sds::test::pixel_centers(s.size, s.size, m2d.options());
  const int64_t timed = std::min<int64_t>(n_chunks, 4);
  auto c0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < timed; ++k) {
    const int64_t b = k * chunk, e = std::min(pixels, b + chunk);
    auto [c, a] = sds::test::composite_pixels_reference(m2d, con, col, opc, s.bg, pr.depths,
                                                        visible, px.slice(0, b, e),
                                                        py.slice(0, b, e));
    (c.sum() + a.sum()).backward();
  }
  auto c1 = std::chrono::steady_clock::now();
  const double chunk_ms = std::chrono::duration<double, std::milli>(c1 - c0).count() / timed;
  torch::autograd::grad({(pr.means2d * m2d.grad()).sum() + (pr.conics * con.grad()).sum() +
                         (rgb * col.grad()).sum()},
                        {m, q, sc, sh}, {}, false, false, true);
  auto t1 = std::chrono::steady_clock::now();
  const double rest = std::chrono::duration<double, std::milli>(t1 - t0).count() -
                      chunk_ms * static_cast<double>(timed);
  return {rest + chunk_ms * static_cast<double>(n_chunks), timed < n_chunks};
}

}  // namespace

int main() {
  std::printf("Gaussian splatting forward+backward, one camera, CPU (%d threads)\n",
              at::get_num_threads());
  std::printf("%9s %6s %12s %14s %8s\n", "Gaussians", "pixels", "fused ms", "dense ATen ms",
              "ratio");
  for (int64_t n : {1000, 10000, 100000}) {
    for (int64_t size : {64, 128, 256}) {
      const Scene s = make_scene(n, size);
      const double fused = median_ms([&] { fused_step(s); }, 1, n >= 100000 ? 3 : 7);
      auto [dense, extrapolated] = dense_ms(s);
      std::printf("%9lld %4lld^2 %12.2f %14.1f %7.1fx%s\n", static_cast<long long>(n),
                  static_cast<long long>(size), fused, dense, dense / fused,
                  extrapolated ? "  (dense extrapolated from 4 chunks)" : "");
      std::fflush(stdout);
    }
  }
#ifdef SDS_WITH_CUDA
  if (at::hasCUDA()) {
    const Scene cpu = make_scene(100000, 512);
    const Scene gpu = cpu.to(at::kCUDA);
    const double t_gpu = median_ms([&] { fused_step(gpu); }, 5, 51);
    const double t_cpu = median_ms([&] { fused_step(cpu); }, 1, 5);
    std::printf("\nCUDA, 100k Gaussians, 512^2, forward+backward: %.3f ms (CPU %.1f ms, %.1fx)\n",
                t_gpu, t_cpu, t_cpu / t_gpu);
  } else {
    std::printf("\nno CUDA device: the CUDA timings are skipped\n");
  }
#endif
  return 0;
}
