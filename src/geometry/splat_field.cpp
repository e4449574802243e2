// Sums of anisotropic Gaussian kernels on a grid (block-culled) and at scattered points (binned),
// both with the cutoff-box rule documented in the header.

#include "sds/geometry/splat_field.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {
namespace {

// One Gaussian in double: M = L^-1 for Sigma = L L^T, so the Mahalanobis distance is |M d|^2,
// which cannot go negative through rounding the way d^T Sigma^-1 d can.
struct Kernel {
  double mu[3];
  double m00, m10, m11, m20, m21, m22;
  double half[3];  // cutoff box half-widths
  double weight;

  double distance2(double d0, double d1, double d2) const {
    const double y0 = m00 * d0, y1 = m10 * d0 + m11 * d1, y2 = m20 * d0 + m21 * d1 + m22 * d2;
    return y0 * y0 + y1 * y1 + y2 * y2;
  }

  bool in_box(const double* p) const {
    return std::abs(p[0] - mu[0]) <= half[0] && std::abs(p[1] - mu[1]) <= half[1] &&
           std::abs(p[2] - mu[2]) <= half[2];
  }
};

at::Tensor host_double(const at::Tensor& t) {
  return t.detach().to(at::kCPU, at::kDouble).contiguous();
}

std::vector<Kernel> prepare_kernels(const std::string& fn, const at::Tensor& means,
                                    const at::Tensor& covariances, const at::Tensor& weights,
                                    double cutoff_sigma) {
  check_shape(means, fn + " means", {-1, 3}, "[N, 3]");
  const int64_t N = means.size(0);
  SDS_CHECK(N <= std::numeric_limits<int32_t>::max(),
            "{} means: expected at most {} Gaussians, got {}", fn,
            std::numeric_limits<int32_t>::max(), N);
  check_shape(covariances, fn + " covariances", {N, 3, 3}, "[N, 3, 3] (N from means)");
  check_shape(weights, fn + " weights", {N}, "[N] (N from means)");
  check_floating(means, fn + " means");
  check_floating(covariances, fn + " covariances");
  check_floating(weights, fn + " weights");
  check_finite(means, fn + " means");
  check_finite(covariances, fn + " covariances");
  check_finite(weights, fn + " weights");
  SDS_CHECK(std::isfinite(cutoff_sigma) && cutoff_sigma > 0,
            "{}: expected a finite cutoff_sigma > 0, got {}", fn, cutoff_sigma);

  at::Tensor mu = host_double(means), cov = host_double(covariances), w = host_double(weights);
  const double* mp = mu.data_ptr<double>();
  const double* cp = cov.data_ptr<double>();
  const double* wp = w.data_ptr<double>();
  std::vector<Kernel> kernels(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    SDS_CHECK(wp[i] >= 0, "{} weights: expected values >= 0, got {} at index {}", fn, wp[i], i);
    const double* S = cp + 9 * i;
    double scale = 0;
    for (int k = 0; k < 9; ++k) scale = std::max(scale, std::abs(S[k]));
    // Covariances built in float32 (R S S^T R^T) are symmetric only up to rounding.
    for (int r = 0; r < 3; ++r) {
      for (int c = r + 1; c < 3; ++c) {
        SDS_CHECK(std::abs(S[3 * r + c] - S[3 * c + r]) <= 1e-5 * scale,
                  "{} covariances: expected symmetric matrices, got [{}][{}] = {} but [{}][{}] = "
                  "{} at index {}",
                  fn, r, c, S[3 * r + c], c, r, S[3 * c + r], i);
      }
    }
    auto sym = [&](int r, int c) { return 0.5 * (S[3 * r + c] + S[3 * c + r]); };
    const double d0 = sym(0, 0);
    const double l00 = d0 > 0 ? std::sqrt(d0) : 0.0;
    const double l10 = l00 > 0 ? sym(1, 0) / l00 : 0.0, l20 = l00 > 0 ? sym(2, 0) / l00 : 0.0;
    const double d1 = sym(1, 1) - l10 * l10;
    const double l11 = d1 > 0 ? std::sqrt(d1) : 0.0;
    const double l21 = l11 > 0 ? (sym(2, 1) - l20 * l10) / l11 : 0.0;
    const double d2 = sym(2, 2) - l20 * l20 - l21 * l21;
    SDS_CHECK(d0 > 0 && d1 > 0 && d2 > 0,
              "{} covariances: expected positive definite matrices, got [[{}, {}, {}], [{}, {}, "
              "{}], [{}, {}, {}]] at index {} (Cholesky pivots {}, {}, {})",
              fn, S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7], S[8], i, d0, d1, d2);
    const double l22 = std::sqrt(d2);
    Kernel& k = kernels[i];
    for (int a = 0; a < 3; ++a) {
      k.mu[a] = mp[3 * i + a];
      k.half[a] = cutoff_sigma * std::sqrt(sym(a, a));
    }
    k.m00 = 1.0 / l00;
    k.m11 = 1.0 / l11;
    k.m22 = 1.0 / l22;
    k.m10 = -l10 * k.m00 / l11;
    k.m21 = -l21 * k.m11 / l22;
    k.m20 = -(l20 * k.m00 + l21 * k.m10) / l22;
    k.weight = wp[i];
  }
  return kernels;
}

void check_bounds(const std::string& fn, std::array<double, 3> lo, std::array<double, 3> hi) {
  for (int a = 0; a < 3; ++a) {
    SDS_CHECK(std::isfinite(lo[a]) && std::isfinite(hi[a]) && hi[a] > lo[a],
              "{}: expected finite bounds with hi > lo on every axis, got lo = [{}, {}, {}], "
              "hi = [{}, {}, {}]",
              fn, lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
  }
}

// The samples i in [0, R) with |lo + i step - mu| <= half, as [first, last] (first > last when
// none). Rounded estimates are corrected against the exact per-sample test, so the grid agrees
// with the rule sample by sample.
std::pair<int64_t, int64_t> sample_range(double mu, double half, double lo, double step,
                                         int64_t R) {
  auto inside = [&](int64_t i) { return std::abs(lo + double(i) * step - mu) <= half; };
  const double a = std::ceil((mu - half - lo) / step), b = std::floor((mu + half - lo) / step);
  if (!(a <= double(R) + 1) || !(b >= -2.0) || a > b + 2) return {1, 0};
  int64_t first = static_cast<int64_t>(std::clamp(a, 0.0, double(R - 1)));
  int64_t last = static_cast<int64_t>(std::clamp(b, 0.0, double(R - 1)));
  while (first > 0 && inside(first - 1)) --first;
  while (first < R && !inside(first)) ++first;
  while (last < R - 1 && inside(last + 1)) ++last;
  while (last >= 0 && !inside(last)) --last;
  return {first, last};
}

// Adds w exp(-(base + (y + s k)^2) / 2) to row[k] for k in [0, n), s > 0. Along a row the
// exponent is a quadratic in k, so each value is its neighbour times a ratio that itself changes
// by the constant factor shrink = exp(-s^2) (passed in, it is the same for the whole Gaussian):
// three exp calls per row instead of one per sample. The walk starts at the row's peak and goes
// outwards, so the ratios stay below about 1 (no overflow) and the rounding error grows by an ulp
// a step (~1e-14 over a row). Values under 1e-300 w are dropped rather than dragged through
// subnormal arithmetic.
void add_gaussian_row(double* row, int64_t n, double w, double base, double y, double s,
                      double shrink) {
  const int64_t peak =
      std::clamp<int64_t>(std::llround(std::clamp(-y / s, -1.0, double(n))), 0, n - 1);
  const double yp = y + s * double(peak);
  const double v0 = w * std::exp(-0.5 * (base + yp * yp));
  const double tiny = 1e-300 * w;
  if (!(v0 > tiny)) return;
  row[peak] += v0;
  double v = v0, ratio = std::exp(-yp * s - 0.5 * s * s);
  for (int64_t k = peak + 1; k < n; ++k) {
    v *= ratio;
    if (!(v > tiny)) break;
    row[k] += v;
    ratio *= shrink;
  }
  v = v0;
  ratio = std::exp(yp * s - 0.5 * s * s);
  for (int64_t k = peak - 1; k >= 0; --k) {
    v *= ratio;
    if (!(v > tiny)) break;
    row[k] += v;
    ratio *= shrink;
  }
}

struct Range3 {
  int64_t first[3], last[3];
};

}  // namespace

at::Tensor splat_density_grid(const at::Tensor& means, const at::Tensor& covariances,
                              const at::Tensor& weights, int64_t resolution,
                              std::array<double, 3> lo, std::array<double, 3> hi, int64_t blocks,
                              double cutoff_sigma) {
  const std::string fn = "splat_density_grid";
  const std::vector<Kernel> kernels =
      prepare_kernels(fn, means, covariances, weights, cutoff_sigma);
  SDS_CHECK(resolution >= 2 && resolution <= 4096, "{}: expected a resolution in [2, 4096], got {}",
            fn, resolution);
  SDS_CHECK(blocks >= 1, "{}: expected blocks >= 1, got {}", fn, blocks);
  check_bounds(fn, lo, hi);

  const int64_t R = resolution, B = std::min(blocks, resolution);
  double step[3];
  for (int a = 0; a < 3; ++a) step[a] = (hi[a] - lo[a]) / double(R - 1);
  std::vector<int64_t> block_start(static_cast<size_t>(B) + 1);
  for (int64_t b = 0; b <= B; ++b) block_start[b] = b * R / B;
  std::vector<int64_t> block_of(static_cast<size_t>(R));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = block_start[b]; i < block_start[b + 1]; ++i) block_of[i] = b;
  }

  // Bins in Gaussian order, so every sample sums its Gaussians in the same order whatever the
  // blocking: `blocks` cannot change a single bit of the output.
  std::vector<Range3> ranges(kernels.size());
  std::vector<std::vector<int32_t>> bins(static_cast<size_t>(B * B * B));
  for (size_t k = 0; k < kernels.size(); ++k) {
    bool empty = kernels[k].weight == 0;
    for (int a = 0; a < 3 && !empty; ++a) {
      auto [first, last] = sample_range(kernels[k].mu[a], kernels[k].half[a], lo[a], step[a], R);
      ranges[k].first[a] = first;
      ranges[k].last[a] = last;
      empty = first > last;
    }
    if (empty) continue;
    const Range3& r = ranges[k];
    for (int64_t bx = block_of[r.first[0]]; bx <= block_of[r.last[0]]; ++bx) {
      for (int64_t by = block_of[r.first[1]]; by <= block_of[r.last[1]]; ++by) {
        for (int64_t bz = block_of[r.first[2]]; bz <= block_of[r.last[2]]; ++bz) {
          bins[(bx * B + by) * B + bz].push_back(static_cast<int32_t>(k));
        }
      }
    }
  }

  at::Tensor grid = at::zeros({R, R, R}, at::kFloat);
  float* out = grid.data_ptr<float>();
  at::parallel_for(0, B * B * B, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> acc;
    for (int64_t block = begin; block < end; ++block) {
      const int64_t b[3] = {block / (B * B), (block / B) % B, block % B};
      int64_t s[3], n[3];
      for (int a = 0; a < 3; ++a) {
        s[a] = block_start[b[a]];
        n[a] = block_start[b[a] + 1] - s[a];
      }
      acc.assign(static_cast<size_t>(n[0] * n[1] * n[2]), 0.0);
      for (int32_t k : bins[block]) {
        const Kernel& g = kernels[k];
        int64_t f[3], l[3];
        for (int a = 0; a < 3; ++a) {
          f[a] = std::max(ranges[k].first[a], s[a]);
          l[a] = std::min(ranges[k].last[a], s[a] + n[a] - 1);
        }
        const double sz = g.m22 * step[2], shrink = std::exp(-sz * sz);
        for (int64_t ix = f[0]; ix <= l[0]; ++ix) {
          const double dx = lo[0] + double(ix) * step[0] - g.mu[0];
          const double y0 = g.m00 * dx;
          for (int64_t iy = f[1]; iy <= l[1]; ++iy) {
            const double dy = lo[1] + double(iy) * step[1] - g.mu[1];
            const double y1 = g.m10 * dx + g.m11 * dy;
            const double base = y0 * y0 + y1 * y1;
            const double y2_0 = g.m20 * dx + g.m21 * dy;
            const double dz = lo[2] + double(f[2]) * step[2] - g.mu[2];
            double* row = acc.data() + ((ix - s[0]) * n[1] + (iy - s[1])) * n[2] + (f[2] - s[2]);
            add_gaussian_row(row, l[2] - f[2] + 1, g.weight, base, y2_0 + g.m22 * dz, sz, shrink);
          }
        }
      }
      for (int64_t ix = 0; ix < n[0]; ++ix) {
        for (int64_t iy = 0; iy < n[1]; ++iy) {
          float* dst = out + ((s[0] + ix) * R + (s[1] + iy)) * R + s[2];
          const double* src = acc.data() + (ix * n[1] + iy) * n[2];
          for (int64_t iz = 0; iz < n[2]; ++iz) dst[iz] = static_cast<float>(src[iz]);
        }
      }
    }
  });
  return grid;
}

std::pair<at::Tensor, at::Tensor> splat_field(const at::Tensor& points, const at::Tensor& means,
                                              const at::Tensor& covariances,
                                              const at::Tensor& weights, const at::Tensor& colors,
                                              double cutoff_sigma) {
  const std::string fn = "splat_field";
  const std::vector<Kernel> kernels =
      prepare_kernels(fn, means, covariances, weights, cutoff_sigma);
  const int64_t N = static_cast<int64_t>(kernels.size());
  check_shape(points, fn + " points", {-1, 3}, "[P, 3]");
  check_floating(points, fn + " points");
  check_finite(points, fn + " points");
  check_shape(colors, fn + " colors", {N, -1}, "[N, C] (N from means)");
  check_floating(colors, fn + " colors");
  check_finite(colors, fn + " colors");

  const int64_t P = points.size(0), C = colors.size(1);
  at::Tensor density = at::zeros({P}, at::kFloat);
  at::Tensor mean_color = at::zeros({P, C}, at::kFloat);
  if (P == 0 || N == 0) return {density, mean_color};

  at::Tensor pts = host_double(points), col = host_double(colors);
  const double* pp = pts.data_ptr<double>();
  const double* cp = col.data_ptr<double>();

  // A coarse grid over the points' bounding box. Cells a quarter of a typical cutoff box wide:
  // a typical Gaussian then lands in ~5^3 cells, and a point's candidates overshoot the
  // Gaussians that really reach it by only ~(5/4)^3.
  double pmin[3], pmax[3];
  for (int a = 0; a < 3; ++a) {
    pmin[a] = std::numeric_limits<double>::infinity();
    pmax[a] = -pmin[a];
  }
  for (int64_t i = 0; i < P; ++i) {
    for (int a = 0; a < 3; ++a) {
      pmin[a] = std::min(pmin[a], pp[3 * i + a]);
      pmax[a] = std::max(pmax[a], pp[3 * i + a]);
    }
  }
  std::vector<int32_t> reaching;  // Gaussians whose box meets the points' bounding box
  std::vector<double> widths;
  for (int64_t k = 0; k < N; ++k) {
    const Kernel& g = kernels[k];
    bool meets = g.weight > 0;
    for (int a = 0; a < 3 && meets; ++a) {
      meets = g.mu[a] + g.half[a] >= pmin[a] && g.mu[a] - g.half[a] <= pmax[a];
    }
    if (!meets) continue;
    reaching.push_back(static_cast<int32_t>(k));
    widths.push_back(2 * std::max({g.half[0], g.half[1], g.half[2]}));
  }
  if (reaching.empty()) return {density, mean_color};
  std::nth_element(widths.begin(), widths.begin() + widths.size() / 2, widths.end());
  const double extent = std::max({pmax[0] - pmin[0], pmax[1] - pmin[1], pmax[2] - pmin[2]});
  constexpr int64_t kMaxCellsPerAxis = 128;
  constexpr int64_t kMaxBinEntries = int64_t{1} << 24;
  double cell =
      std::max({widths[widths.size() / 2] / 4, extent / double(kMaxCellsPerAxis), 1e-300});
  int64_t cells[3];
  std::vector<int64_t> lo_cell(reaching.size() * 3), hi_cell(reaching.size() * 3);
  auto cell_of = [&](double x, int a) {
    const double c = std::floor((x - pmin[a]) / cell);
    return c < 0 ? int64_t{0} : c >= double(cells[a]) ? cells[a] - 1 : int64_t(c);
  };
  int64_t entries = 0;
  // Large outliers can each cover many cells; coarsen until the bins fit a memory budget.
  for (;;) {
    for (int a = 0; a < 3; ++a) {
      cells[a] =
          std::clamp<int64_t>(int64_t(std::ceil((pmax[a] - pmin[a]) / cell)), 1, kMaxCellsPerAxis);
    }
    entries = 0;
    for (size_t j = 0; j < reaching.size(); ++j) {
      const Kernel& g = kernels[reaching[j]];
      int64_t span = 1;
      for (int a = 0; a < 3; ++a) {
        lo_cell[3 * j + a] = cell_of(g.mu[a] - g.half[a], a);
        hi_cell[3 * j + a] = cell_of(g.mu[a] + g.half[a], a);
        span *= hi_cell[3 * j + a] - lo_cell[3 * j + a] + 1;
      }
      entries += span;
    }
    if (entries <= kMaxBinEntries || (cells[0] == 1 && cells[1] == 1 && cells[2] == 1)) break;
    cell *= 2;
  }

  // Cells as compressed rows, each listing its Gaussians in index order (deterministic sums).
  const int64_t num_cells = cells[0] * cells[1] * cells[2];
  std::vector<int64_t> row(static_cast<size_t>(num_cells) + 1, 0);
  auto for_cells = [&](size_t j, auto&& visit) {
    for (int64_t x = lo_cell[3 * j]; x <= hi_cell[3 * j]; ++x) {
      for (int64_t y = lo_cell[3 * j + 1]; y <= hi_cell[3 * j + 1]; ++y) {
        for (int64_t z = lo_cell[3 * j + 2]; z <= hi_cell[3 * j + 2]; ++z) {
          visit((x * cells[1] + y) * cells[2] + z);
        }
      }
    }
  };
  for (size_t j = 0; j < reaching.size(); ++j) for_cells(j, [&](int64_t c) { ++row[c + 1]; });
  for (int64_t c = 0; c < num_cells; ++c) row[c + 1] += row[c];
  std::vector<int32_t> members(static_cast<size_t>(entries));
  {
    std::vector<int64_t> fill(row.begin(), row.end() - 1);
    for (size_t j = 0; j < reaching.size(); ++j) {
      for_cells(j, [&](int64_t c) { members[fill[c]++] = reaching[j]; });
    }
  }

  float* dp = density.data_ptr<float>();
  float* mp = mean_color.data_ptr<float>();
  at::parallel_for(0, P, 256, [&](int64_t begin, int64_t end) {
    std::vector<double> sum(static_cast<size_t>(C));
    for (int64_t i = begin; i < end; ++i) {
      const double* p = pp + 3 * i;
      const int64_t c =
          (cell_of(p[0], 0) * cells[1] + cell_of(p[1], 1)) * cells[2] + cell_of(p[2], 2);
      double total = 0;
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t m = row[c]; m < row[c + 1]; ++m) {
        const Kernel& g = kernels[members[m]];
        if (!g.in_box(p)) continue;
        const double k =
            g.weight * std::exp(-0.5 * g.distance2(p[0] - g.mu[0], p[1] - g.mu[1], p[2] - g.mu[2]));
        total += k;
        const double* kc = cp + members[m] * C;
        for (int64_t ch = 0; ch < C; ++ch) sum[ch] += k * kc[ch];
      }
      dp[i] = static_cast<float>(total);
      if (total > 0) {
        for (int64_t ch = 0; ch < C; ++ch) mp[i * C + ch] = static_cast<float>(sum[ch] / total);
      }
    }
  });
  return {density, mean_color};
}

}  // namespace sds
