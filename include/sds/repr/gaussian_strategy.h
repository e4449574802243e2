#pragma once
// Adaptive density control of 3D Gaussians (clone, split, prune, opacity reset) as a strategy
// object with explicit hooks, gsplat's DefaultStrategy semantics. Presets reproduce the 3DGS
// and DreamGaussian schedules (../shared/reference/gaussians.md section 4).

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "sds/core/json.h"
#include "sds/core/optimizer_state.h"
#include "sds/ops/rasterize.h"

namespace sds {

/// The trainable tensors of a set of Gaussians, one optimiser parameter each.
struct GaussianParameters {
  at::Tensor means;           ///< [N, 3]
  at::Tensor log_scales;      ///< [N, 3]
  at::Tensor quats;           ///< [N, 4] (w, x, y, z)
  at::Tensor opacity_logits;  ///< [N]
  at::Tensor sh0;             ///< [N, 1, 3] DC coefficients
  at::Tensor shN;             ///< [N, K - 1, 3] higher coefficients; undefined at degree 0

  int64_t size() const { return means.defined() ? means.size(0) : 0; }
  /// Every defined tensor with its name.
  std::vector<std::pair<std::string, at::Tensor*>> all();
};

/// Settings of DensificationStrategy; JSON keys (under "densify") are the field names.
/// Gradient thresholds are in gsplat's units: the screen-space mean gradient in pixels times
/// (W/2, H/2) times the number of cameras, i.e. the Inria rasteriser's NDC gradient.
/// The most Gaussians a representation holds (num_points, max_gaussians): 16.7M, about 4 GB of
/// parameters and Adam state at degree 3; more is an sds::Error up front.
inline constexpr int64_t kMaxGaussians = int64_t{1} << 24;

struct DensifyOptions {
  bool enabled = true;
  double grow_grad2d = 2e-4;       ///< grow where the mean gradient norm exceeds this
  double grow_scale3d = 0.01;      ///< clone if max scale <= this x scene_scale, else split
  double grow_scale2d = 0.05;      ///< also split if the max screen radius / image size exceeds
  double prune_opacity = 0.005;    ///< prune if sigmoid(opacity) < this
  double prune_scale3d = 0.1;      ///< prune if max scale > this x scene_scale ...
  int64_t prune_scale3d_after = 3000;  ///< ... once step > this (3DGS: after the first reset)
  double prune_scale2d = 0.15;     ///< prune if the max screen radius / image size exceeds ...
  int64_t refine_scale2d_stop = 0;  ///< ... while step < this (0: screen-space rules off)
  double scene_scale = 1.0;
  int64_t refine_start = 500;
  int64_t refine_stop = 15000;
  int64_t refine_every = 100;
  int64_t reset_every = 3000;      ///< opacity reset to 2 x prune_opacity (0: never)
  int64_t max_gaussians = 1000000;  ///< growth stops at this count (highest gradients first)
  bool revised_opacity = false;    ///< split children get 1 - sqrt(1 - o) (arXiv 2404.06109)

  /// The presets: "3dgs" (gsplat's defaults = the 3DGS paper) and "dreamgaussian" (its
  /// image-to-3D schedule: threshold 0.01, clone/split at 0.04, prune o < 0.01 or scale > 0.4,
  /// refine every 100 steps from step 100, no reset).
  static DensifyOptions preset(const std::string& name);
  /// Reads a "densify" object: an optional "preset" then overrides.
  static DensifyOptions from_config(ConfigReader& config);
};

/// What one refinement did, for tests and logs.
struct DensifyReport {
  int64_t duplicated = 0, split = 0, pruned = 0;
  bool opacity_reset = false;
};

/// gsplat's DefaultStrategy: screen-space gradient statistics after each backward pass, then
/// every refine_every steps clone small / split large high-gradient Gaussians and prune faint or
/// oversized ones, with Adam-state surgery (new rows get zero moments, kept rows keep theirs).
/// The anchors' screen-size pruning bug (the Inria code zeroes the max screen radii before the
/// prune reads them, so it never fires: gaussian-splatting#123) is fixed here: the statistics
/// are reset only after pruning has used them.
class DensificationStrategy {
 public:
  explicit DensificationStrategy(DensifyOptions options = {});

  /// Before backward: keeps the screen-space mean gradients of a render for the statistics.
  void step_pre_backward(ops::RasterizeMeta& meta);

  /// After the optimiser step of 0-based `step`: accumulates the statistics of the metas passed
  /// to step_pre_backward since the last call, then refines on schedule. `seed` drives the
  /// split samples (one stream per step, so resumed runs split identically).
  DensifyReport step_post_backward(int64_t step, GaussianParameters& params,
                                   OptimizerState& optimizer, uint64_t seed);

  const DensifyOptions& options() const { return options_; }

  /// The statistics, checkpointed with the parameters: summed gradient norms, visible counts
  /// and max screen radii (fraction of the image size), [N] each.
  at::Tensor grad2d, count, radii2d;

 private:
  void accumulate(const ops::RasterizeMeta& meta, int64_t n);
  DensifyOptions options_;
  std::vector<ops::RasterizeMeta> pending_;
};

// Parameter and optimiser surgery (gsplat's strategy/ops.py), usable on their own.

/// Appends copies of the rows `rows` (int64 indices) of every parameter.
void duplicate_gaussians(GaussianParameters& params, OptimizerState& optimizer,
                         const at::Tensor& rows);
/// Replaces the rows `rows` by `children` samples each: means + R diag(s) eps with
/// eps ~ N(0, I), scales / (0.8 children), other tensors copied (opacities revised if asked).
void split_gaussians(GaussianParameters& params, OptimizerState& optimizer, const at::Tensor& rows,
                     int64_t children, at::Generator& generator, bool revised_opacity = false);
/// Keeps only the rows where `keep` [N] (bool) is true.
void remove_gaussians(GaussianParameters& params, OptimizerState& optimizer,
                      const at::Tensor& keep);
/// Clamps opacities to at most `max_opacity` and zeroes their Adam moments.
void reset_opacities(GaussianParameters& params, OptimizerState& optimizer, double max_opacity);

}  // namespace sds
