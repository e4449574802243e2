// rasterize_to_pixels on CUDA (the gsplat structure): one block per tile and one thread per
// pixel. The block walks its tile's sorted run in batches that every thread helps load into
// shared memory. The backward walks the run back to front; each warp sums its 32 pixels'
// gradients for a splat before one lane adds them to global memory.

#include <cuda_runtime.h>

#include "ops/rasterize_to_pixels_kernels.h"

namespace sds::ops::detail {
namespace {

// A tile of 32 x 32 pixels is 1024 threads, the most a block may have: the kernels must fit it
// (at most 64 registers a thread).
constexpr int kMaxBlock = 1024;
// The default limit of dynamic shared memory; a launch asking for more must opt in.
constexpr size_t kDefaultSharedLimit = 48 * 1024;

constexpr unsigned kFullMask = 0xffffffffu;

// The backward's block: tile^2 threads rounded up to whole warps, so that every full-mask warp
// intrinsic names 32 existing lanes whatever the tile size (tile 4 alone would be a warp of 16).
inline int bwd_threads(int tile) { return (tile * tile + 31) / 32 * 32; }

// The sum over the warp, valid in lane 0. Every lane must call it.
template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
  return v;
}

// Opts a kernel into more than the default dynamic shared memory (a tile of 32 in float64 needs
// 52 KiB forward and up to 84 KiB backward).
template <typename Kernel>
cudaError_t allow_shared(Kernel* kernel, size_t bytes) {
  if (bytes <= kDefaultSharedLimit) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(bytes));
}

// The run of tile (tx, ty) of image c: [start, end) of the sorted list.
__device__ inline void tile_run(const int32_t* offsets, int64_t M, int64_t c, int tiles_x,
                                int tiles_y, int tx, int ty, int64_t& start, int64_t& end) {
  const int64_t t = (c * tiles_y + ty) * tiles_x + tx;
  const int64_t total = static_cast<int64_t>(gridDim.z) * tiles_x * tiles_y;
  start = offsets[t];
  end = t + 1 < total ? offsets[t + 1] : M;
}

template <typename T, int D>
__global__ void __launch_bounds__(kMaxBlock)
    raster_fwd_kernel(int width, int height, int tile, int tiles_x, int tiles_y,
                      int64_t M, const T* __restrict__ means2d,
                      const T* __restrict__ conics, const T* __restrict__ colors,
                      const T* __restrict__ opacities,
                      const T* __restrict__ backgrounds,
                      const int32_t* __restrict__ offsets,
                      const int32_t* __restrict__ flatten_ids,
                      T* __restrict__ out_colors, T* __restrict__ out_alphas,
                      T* __restrict__ out_trans, int32_t* __restrict__ last_ids) {
  // Aligned for the Splat<T> (float64 members) carved first.
  extern __shared__ __align__(16) unsigned char smem[];
  const int block = tile * tile;
  Splat<T>* s_splat = reinterpret_cast<Splat<T>*>(smem);
  int32_t* s_id = reinterpret_cast<int32_t*>(s_splat + block);

  const int64_t c = blockIdx.z;
  const int tx = blockIdx.x, ty = blockIdx.y;
  const int rank = threadIdx.y * tile + threadIdx.x;
  const int i = ty * tile + threadIdx.y, j = tx * tile + threadIdx.x;
  const bool inside = i < height && j < width;
  int64_t start, end;
  tile_run(offsets, M, c, tiles_x, tiles_y, tx, ty, start, end);
  const T px = T(j) + T(0.5), py = T(i) + T(0.5);

  bool done = !inside;
  T trans = T(1);
  T acc[D];
  for (int d = 0; d < D; ++d) acc[d] = T(0);
  int64_t last = -1;
  for (int64_t batch = start; batch < end; batch += block) {
    // Every thread of the block must reach the barriers; stop once all pixels are done.
    if (__syncthreads_count(done) == block) break;
    const int64_t load = batch + rank;
    if (load < end) {
      const int64_t g = flatten_ids[load];
      s_id[rank] = static_cast<int32_t>(g);
      s_splat[rank] = gather_splat(means2d, conics, opacities, g);
    }
    __syncthreads();
    const int n = static_cast<int>(min(static_cast<int64_t>(block), end - batch));
    for (int k = 0; k < n && !done; ++k) {
      const SplatHit<T> h = splat_hit(s_splat[k], px, py);
      if (!h.ok) continue;
      const T next = trans * (T(1) - h.alpha);
      if (next <= T(kTransmittanceMin)) {
        done = true;
        break;
      }
      const T w = h.alpha * trans;
      const int64_t g = s_id[k];
      for (int d = 0; d < D; ++d) acc[d] += w * colors[g * D + d];
      trans = next;
      last = batch + k;
    }
  }
  if (!inside) return;
  const int64_t p = (c * height + i) * width + j;
  for (int d = 0; d < D; ++d) {
    out_colors[p * D + d] = acc[d] + (backgrounds ? trans * backgrounds[c * D + d] : T(0));
  }
  out_alphas[p] = T(1) - trans;
  out_trans[p] = trans;
  last_ids[p] = static_cast<int32_t>(last);
}

template <typename T, int D>
__global__ void __launch_bounds__(kMaxBlock)
    raster_bwd_kernel(int width, int height, int tile, int tiles_x, int tiles_y,
                      int64_t M, const T* __restrict__ means2d,
                      const T* __restrict__ conics, const T* __restrict__ colors,
                      const T* __restrict__ opacities,
                      const T* __restrict__ backgrounds,
                      const int32_t* __restrict__ offsets,
                      const int32_t* __restrict__ flatten_ids,
                      const T* __restrict__ trans_final_in,
                      const int32_t* __restrict__ last_ids,
                      const T* __restrict__ v_out_colors,
                      const T* __restrict__ v_out_alphas, T* __restrict__ v_means2d,
                      T* __restrict__ v_conics, T* __restrict__ v_colors,
                      T* __restrict__ v_opacities) {
  // Aligned for the Splat<T> (float64 members) carved first.
  extern __shared__ __align__(16) unsigned char smem[];
  const int block = tile * tile;
  Splat<T>* s_splat = reinterpret_cast<Splat<T>*>(smem);
  T* s_color = reinterpret_cast<T*>(s_splat + block);
  int32_t* s_id = reinterpret_cast<int32_t*>(s_color + block * D);

  const int64_t c = blockIdx.z;
  const int tx = blockIdx.x, ty = blockIdx.y;
  // A 1-D block of bwd_threads(tile): threads from tile^2 on are padding, own no pixel and load
  // nothing, but take part in the barriers and the warp sums.
  const int rank = threadIdx.x;
  const int lane = rank % 32;
  const bool pixel = rank < block;
  const int i = ty * tile + rank / tile, j = tx * tile + rank % tile;
  const bool inside = pixel && i < height && j < width;
  int64_t start, end;
  tile_run(offsets, M, c, tiles_x, tiles_y, tx, ty, start, end);
  const T px = T(j) + T(0.5), py = T(i) + T(0.5);

  const int64_t p = (c * height + i) * width + j;
  const int64_t last = inside ? last_ids[p] : -1;
  const T t_final = inside ? trans_final_in[p] : T(1);
  T v_c[D];
  T v_bg_dot = T(0);
  for (int d = 0; d < D; ++d) {
    v_c[d] = inside ? v_out_colors[p * D + d] : T(0);
    if (backgrounds) v_bg_dot += v_c[d] * backgrounds[c * D + d];
  }
  const T v_a = inside ? v_out_alphas[p] : T(0);
  T behind[D];
  for (int d = 0; d < D; ++d) behind[d] = T(0);
  T trans = t_final;

  for (int64_t batch_end = end; batch_end > start; batch_end -= block) {
    const int64_t batch_start = max(start, batch_end - block);
    __syncthreads();
    const int64_t load = batch_start + rank;
    if (pixel && load < batch_end) {
      const int64_t g = flatten_ids[load];
      s_id[rank] = static_cast<int32_t>(g);
      s_splat[rank] = gather_splat(means2d, conics, opacities, g);
      for (int d = 0; d < D; ++d) s_color[rank * D + d] = colors[g * D + d];
    }
    __syncthreads();
    const int n = static_cast<int>(batch_end - batch_start);
    for (int k = n - 1; k >= 0; --k) {
      const int64_t idx = batch_start + k;
      bool valid = idx <= last;
      SplatHit<T> h;
      if (valid) {
        h = splat_hit(s_splat[k], px, py);
        valid = h.ok;
      }
      // The whole warp takes the same branch, so the shuffles below see every lane.
      if (!__any_sync(kFullMask, valid)) continue;
      SplatGrad<T> sg{T(0), T(0), T(0), T(0), T(0), T(0)};
      T v_col[D];
      for (int d = 0; d < D; ++d) v_col[d] = T(0);
      if (valid) {
        const T ra = T(1) / (T(1) - h.alpha);
        const T t_i = trans * ra;
        const T w = h.alpha * t_i;
        T v_alpha = t_final * ra * (v_a - v_bg_dot);
        for (int d = 0; d < D; ++d) {
          const T col = s_color[k * D + d];
          v_col[d] = w * v_c[d];
          v_alpha += v_c[d] * (col * t_i - behind[d] * ra);
          behind[d] += w * col;
        }
        sg = splat_vjp(s_splat[k], h, v_alpha);
        trans = t_i;
      }
      sg.mx = warp_sum(sg.mx);
      sg.my = warp_sum(sg.my);
      sg.a = warp_sum(sg.a);
      sg.b = warp_sum(sg.b);
      sg.c = warp_sum(sg.c);
      sg.o = warp_sum(sg.o);
      for (int d = 0; d < D; ++d) v_col[d] = warp_sum(v_col[d]);
      if (lane == 0) {
        const int64_t g = s_id[k];
        atomicAdd(v_means2d + 2 * g, sg.mx);
        atomicAdd(v_means2d + 2 * g + 1, sg.my);
        atomicAdd(v_conics + 3 * g, sg.a);
        atomicAdd(v_conics + 3 * g + 1, sg.b);
        atomicAdd(v_conics + 3 * g + 2, sg.c);
        atomicAdd(v_opacities + g, sg.o);
        for (int d = 0; d < D; ++d) atomicAdd(v_colors + g * D + d, v_col[d]);
      }
    }
  }
}

template <typename T, int D>
cudaError_t launch_fwd(int64_t C, int width, int height, int tile, int tiles_x, int tiles_y,
                       int64_t M, const T* means2d, const T* conics, const T* colors,
                       const T* opacities, const T* backgrounds, const int32_t* offsets,
                       const int32_t* flatten_ids, T* out_colors, T* out_alphas, T* trans,
                       int32_t* last_ids, cudaStream_t stream) {
  const dim3 grid(tiles_x, tiles_y, static_cast<unsigned>(C));
  const dim3 threads(tile, tile, 1);
  const size_t shared = tile * tile * (sizeof(Splat<T>) + sizeof(int32_t));
  const cudaError_t err = allow_shared(raster_fwd_kernel<T, D>, shared);
  if (err != cudaSuccess) return err;
  raster_fwd_kernel<T, D><<<grid, threads, shared, stream>>>(
      width, height, tile, tiles_x, tiles_y, M, means2d, conics, colors, opacities, backgrounds,
      offsets, flatten_ids, out_colors, out_alphas, trans, last_ids);
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t launch_bwd(int64_t C, int width, int height, int tile, int tiles_x, int tiles_y,
                       int64_t M, const T* means2d, const T* conics, const T* colors,
                       const T* opacities, const T* backgrounds, const int32_t* offsets,
                       const int32_t* flatten_ids, const T* trans, const int32_t* last_ids,
                       const T* v_out_colors, const T* v_out_alphas, T* v_means2d, T* v_conics,
                       T* v_colors, T* v_opacities, cudaStream_t stream) {
  const dim3 grid(tiles_x, tiles_y, static_cast<unsigned>(C));
  const dim3 threads(bwd_threads(tile), 1, 1);
  const size_t shared = tile * tile * (sizeof(Splat<T>) + D * sizeof(T) + sizeof(int32_t));
  const cudaError_t err = allow_shared(raster_bwd_kernel<T, D>, shared);
  if (err != cudaSuccess) return err;
  raster_bwd_kernel<T, D><<<grid, threads, shared, stream>>>(
      width, height, tile, tiles_x, tiles_y, M, means2d, conics, colors, opacities, backgrounds,
      offsets, flatten_ids, trans, last_ids, v_out_colors, v_out_alphas, v_means2d, v_conics,
      v_colors, v_opacities);
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t rasterize_to_pixels_fwd_cuda(int64_t C, int64_t N, int D, int width, int height,
                                         int tile, int tiles_x, int tiles_y, int64_t M,
                                         const T* means2d, const T* conics, const T* colors,
                                         const T* opacities, const T* backgrounds,
                                         const int32_t* offsets, const int32_t* flatten_ids,
                                         T* out_colors, T* out_alphas, T* trans,
                                         int32_t* last_ids, cudaStream_t stream) {
  if (C == 0) return cudaSuccess;
#define SDS_CASE(NC)                                                                        \
  case NC:                                                                                  \
    return launch_fwd<T, NC>(C, width, height, tile, tiles_x, tiles_y, M, means2d, conics,  \
                             colors, opacities, backgrounds, offsets, flatten_ids,          \
                             out_colors, out_alphas, trans, last_ids, stream);
  switch (D) {
    SDS_CASE(1)
    SDS_CASE(2)
    SDS_CASE(3)
    SDS_CASE(4)
    default: return cudaErrorInvalidValue;
  }
#undef SDS_CASE
}

template <typename T>
cudaError_t rasterize_to_pixels_bwd_cuda(int64_t C, int64_t N, int D, int width, int height,
                                         int tile, int tiles_x, int tiles_y, int64_t M,
                                         const T* means2d, const T* conics, const T* colors,
                                         const T* opacities, const T* backgrounds,
                                         const int32_t* offsets, const int32_t* flatten_ids,
                                         const T* trans, const int32_t* last_ids,
                                         const T* v_colors, const T* v_alphas, T* v_means2d,
                                         T* v_conics, T* v_colors_in, T* v_opacities,
                                         cudaStream_t stream) {
  if (C == 0) return cudaSuccess;
#define SDS_CASE(NC)                                                                          \
  case NC:                                                                                    \
    return launch_bwd<T, NC>(C, width, height, tile, tiles_x, tiles_y, M, means2d, conics,    \
                             colors, opacities, backgrounds, offsets, flatten_ids, trans,     \
                             last_ids, v_colors, v_alphas, v_means2d, v_conics, v_colors_in,  \
                             v_opacities, stream);
  switch (D) {
    SDS_CASE(1)
    SDS_CASE(2)
    SDS_CASE(3)
    SDS_CASE(4)
    default: return cudaErrorInvalidValue;
  }
#undef SDS_CASE
}

#define SDS_INSTANTIATE(T)                                                                    \
  template cudaError_t rasterize_to_pixels_fwd_cuda<T>(                                       \
      int64_t, int64_t, int, int, int, int, int, int, int64_t, const T*, const T*, const T*,  \
      const T*, const T*, const int32_t*, const int32_t*, T*, T*, T*, int32_t*, cudaStream_t); \
  template cudaError_t rasterize_to_pixels_bwd_cuda<T>(                                       \
      int64_t, int64_t, int, int, int, int, int, int, int64_t, const T*, const T*, const T*,  \
      const T*, const T*, const int32_t*, const int32_t*, const T*, const int32_t*, const T*, \
      const T*, T*, T*, T*, T*, cudaStream_t);
SDS_INSTANTIATE(float)
SDS_INSTANTIATE(double)
#undef SDS_INSTANTIATE

}  // namespace sds::ops::detail
