// rasterize_to_pixels on the CPU: tiles in parallel; each tile gathers its sorted splats once
// and walks them per pixel. The backward writes into one gradient slot per intersection (a tile
// owns its run of the sorted list, so no two threads share a slot) and sums the slots per
// Gaussian at the end: no atomics, deterministic.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "ops/rasterize_to_pixels_kernels.h"
#include "sds/core/error.h"

namespace sds::ops::detail {
namespace {

// Where one tile's run and pixels are.
struct TileRun {
  int64_t image, start, end;
  int x0, x1, y0, y1;
};

TileRun tile_run(const RasterBuffers& b, int64_t t, const int32_t* offs, int64_t total,
                 int64_t M) {
  const int64_t per_image = static_cast<int64_t>(b.tiles_x) * b.tiles_y;
  TileRun r;
  r.image = t / per_image;
  const int64_t id = t % per_image;
  const int ty = static_cast<int>(id / b.tiles_x), tx = static_cast<int>(id % b.tiles_x);
  r.start = offs[t];
  r.end = t + 1 < total ? offs[t + 1] : M;
  r.x0 = tx * b.tile;
  r.x1 = std::min(b.width, r.x0 + b.tile);
  r.y0 = ty * b.tile;
  r.y1 = std::min(b.height, r.y0 + b.tile);
  return r;
}

template <typename T, int D>
void gather_run(const TileRun& r, const int32_t* ids, const T* m, const T* con, const T* col,
                const T* op, std::vector<Splat<T>>& splats, std::vector<T>& colors) {
  const int64_t n = r.end - r.start;
  splats.resize(n);
  colors.resize(n * D);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t g = ids[r.start + k];
    splats[k] = gather_splat(m, con, op, g);
    for (int d = 0; d < D; ++d) colors[k * D + d] = col[g * D + d];
  }
}

template <typename T, int D>
void fwd(const RasterBuffers& b) {
  const int64_t total = b.offsets.numel(), M = b.flatten_ids.size(0);
  const int W = b.width, H = b.height;
  const T* m = b.means2d.data_ptr<T>();
  const T* con = b.conics.data_ptr<T>();
  const T* col = b.colors.data_ptr<T>();
  const T* op = b.opacities.data_ptr<T>();
  const T* bg = b.backgrounds.defined() ? b.backgrounds.data_ptr<T>() : nullptr;
  const int32_t* offs = b.offsets.data_ptr<int32_t>();
  const int32_t* ids = b.flatten_ids.data_ptr<int32_t>();
  T* out_c = b.out_colors.data_ptr<T>();
  T* out_a = b.out_alphas.data_ptr<T>();
  T* out_t = b.trans.data_ptr<T>();
  int32_t* last_ids = b.last_ids.data_ptr<int32_t>();
  at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
    std::vector<Splat<T>> splats;
    std::vector<T> colors;
    for (int64_t t = begin; t < end; ++t) {
      const TileRun r = tile_run(b, t, offs, total, M);
      gather_run<T, D>(r, ids, m, con, col, op, splats, colors);
      const int64_t n = r.end - r.start;
      for (int i = r.y0; i < r.y1; ++i) {
        for (int j = r.x0; j < r.x1; ++j) {
          const T px = T(j) + T(0.5), py = T(i) + T(0.5);
          T trans = T(1);
          T acc[D] = {};
          int64_t last = -1;
          for (int64_t k = 0; k < n; ++k) {
            const SplatHit<T> h = splat_hit(splats[k], px, py);
            if (!h.ok) continue;
            const T next = trans * (T(1) - h.alpha);
            if (next <= T(kTransmittanceMin)) break;
            const T w = h.alpha * trans;
            for (int d = 0; d < D; ++d) acc[d] += w * colors[k * D + d];
            trans = next;
            last = r.start + k;
          }
          const int64_t p = (r.image * H + i) * W + j;
          for (int d = 0; d < D; ++d) {
            out_c[p * D + d] = acc[d] + (bg ? trans * bg[r.image * D + d] : T(0));
          }
          out_a[p] = T(1) - trans;
          out_t[p] = trans;
          last_ids[p] = static_cast<int32_t>(last);
        }
      }
    }
  });
}

template <typename T, int D>
void bwd(const RasterBuffers& b, const RasterGrads& g) {
  const int64_t total = b.offsets.numel(), M = b.flatten_ids.size(0);
  const int W = b.width, H = b.height;
  const T* m = b.means2d.data_ptr<T>();
  const T* con = b.conics.data_ptr<T>();
  const T* col = b.colors.data_ptr<T>();
  const T* op = b.opacities.data_ptr<T>();
  const T* bg = b.backgrounds.defined() ? b.backgrounds.data_ptr<T>() : nullptr;
  const int32_t* offs = b.offsets.data_ptr<int32_t>();
  const int32_t* ids = b.flatten_ids.data_ptr<int32_t>();
  const T* trans_final = b.trans.data_ptr<T>();
  const int32_t* last_ids = b.last_ids.data_ptr<int32_t>();
  const T* v_out_c = g.v_colors_out.data_ptr<T>();
  const T* v_out_a = g.v_alphas_out.data_ptr<T>();
  // Per intersection: mean2d (2), conic (3), opacity (1), colour (D).
  constexpr int kSlot = 6 + D;
  at::Tensor slots = at::zeros({M, kSlot}, b.means2d.options());
  T* sl = slots.data_ptr<T>();
  at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
    std::vector<Splat<T>> splats;
    std::vector<T> colors;
    for (int64_t t = begin; t < end; ++t) {
      const TileRun r = tile_run(b, t, offs, total, M);
      if (r.end == r.start) continue;
      gather_run<T, D>(r, ids, m, con, col, op, splats, colors);
      for (int i = r.y0; i < r.y1; ++i) {
        for (int j = r.x0; j < r.x1; ++j) {
          const int64_t p = (r.image * H + i) * W + j;
          const int64_t last = last_ids[p];
          if (last < r.start) continue;
          const T px = T(j) + T(0.5), py = T(i) + T(0.5);
          const T t_final = trans_final[p];
          T v_c[D];
          T v_bg_dot = T(0);
          for (int d = 0; d < D; ++d) {
            v_c[d] = v_out_c[p * D + d];
            if (bg) v_bg_dot += v_c[d] * bg[r.image * D + d];
          }
          const T v_a = v_out_a[p];
          T behind[D] = {};  // sum over later splats of w_j c_j
          T trans = t_final;
          for (int64_t k = last - r.start; k >= 0; --k) {
            const SplatHit<T> h = splat_hit(splats[k], px, py);
            if (!h.ok) continue;
            const T ra = T(1) / (T(1) - h.alpha);
            const T t_i = trans * ra;
            const T w = h.alpha * t_i;
            T* slot = sl + (r.start + k) * kSlot;
            T v_alpha = t_final * ra * (v_a - v_bg_dot);
            for (int d = 0; d < D; ++d) {
              const T c = colors[k * D + d];
              slot[6 + d] += w * v_c[d];
              v_alpha += v_c[d] * (c * t_i - behind[d] * ra);
              behind[d] += w * c;
            }
            const SplatGrad<T> sg = splat_vjp(splats[k], h, v_alpha);
            slot[0] += sg.mx;
            slot[1] += sg.my;
            slot[2] += sg.a;
            slot[3] += sg.b;
            slot[4] += sg.c;
            slot[5] += sg.o;
            trans = t_i;
          }
        }
      }
    }
  });
  const int64_t C = b.means2d.size(0), N = b.means2d.size(1);
  at::Tensor per_pair = at::zeros({C * N, kSlot}, slots.options());
  per_pair.index_add_(0, b.flatten_ids.to(at::kLong), slots);
  g.v_means2d.copy_(per_pair.slice(1, 0, 2).view({C, N, 2}));
  g.v_conics.copy_(per_pair.slice(1, 2, 5).view({C, N, 3}));
  g.v_opacities.copy_(per_pair.select(1, 5).view({C, N}));
  g.v_colors.copy_(per_pair.slice(1, 6, kSlot).view({C, N, D}));
}

template <typename T, int D>
struct FwdOp {
  static void run(const RasterBuffers& b) { fwd<T, D>(b); }
};

template <typename T, int D>
struct BwdOp {
  static void run(const RasterBuffers& b, const RasterGrads& g) { bwd<T, D>(b, g); }
};

template <template <typename, int> class Op, typename T, typename... Args>
void by_channels(int64_t D, Args&... args) {
  switch (D) {
    case 1: Op<T, 1>::run(args...); break;
    case 2: Op<T, 2>::run(args...); break;
    case 3: Op<T, 3>::run(args...); break;
    case 4: Op<T, 4>::run(args...); break;
    default: fail("rasterize_to_pixels: expected 1..4 channels, got {}", D);
  }
}

}  // namespace

void rasterize_to_pixels_fwd_cpu(const RasterBuffers& b) {
  const int64_t D = b.colors.size(2);
  AT_DISPATCH_FLOATING_TYPES(b.means2d.scalar_type(), "rasterize_to_pixels_fwd_cpu",
                             [&] { by_channels<FwdOp, scalar_t>(D, b); });
}

void rasterize_to_pixels_bwd_cpu(const RasterBuffers& b, const RasterGrads& g) {
  const int64_t D = b.colors.size(2);
  AT_DISPATCH_FLOATING_TYPES(b.means2d.scalar_type(), "rasterize_to_pixels_bwd_cpu",
                             [&] { by_channels<BwdOp, scalar_t>(D, b, g); });
}

}  // namespace sds::ops::detail
