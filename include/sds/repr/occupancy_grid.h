#pragma once
// An occupancy grid for skipping empty space (nerfacc's OccGridEstimator, one level): an EMA of
// each cell's occupancy, a bit grid of the cells above a threshold, and marching through it.

#include <ATen/ATen.h>

#include <functional>

#include "sds/ops/march_rays.h"

namespace sds {

/// nerfacc's defaults (OccGridEstimator, update_every_n_steps); JSON keys are the field names.
struct OccupancyGridOptions {
  int64_t resolution = 128;     ///< cells per axis
  int64_t update_every = 16;    ///< steps between updates
  int64_t warmup_steps = 256;   ///< before this step every cell is re-evaluated at each update
  double ema_decay = 0.95;      ///< occ = max(occ decay, new)
  double occ_threshold = 0.01;  ///< occupied: occ > min(mean occ, occ_threshold)
};

/// The grid over the cube [-bound, bound]^3, on one device. Occupancies start at 0 and every cell
/// is marched until the first update (nerfacc updates before its first render).
class OccupancyGrid {
 public:
  /// The occupancy of world points `[N, 3]`: `[N]` (a NeRF passes sigma times the step size,
  /// about the opacity of one step), evaluated without gradients.
  using Evaluate = std::function<at::Tensor(const at::Tensor& points)>;

  /// sds::Error on a resolution outside 1..512, a bound or threshold that is not positive, a
  /// decay outside [0, 1] or an update interval below 1.
  OccupancyGrid(OccupancyGridOptions options, double bound, at::Device device = at::kCPU);

  /// Whether `step` (0-based) updates the grid: every update_every steps.
  bool updates_at(int64_t step) const { return step % options_.update_every == 0; }
  /// nerfacc's update at `step`: before warmup_steps every cell, afterwards a quarter of the
  /// cells drawn uniformly plus as many of the occupied ones; each chosen cell is evaluated at a
  /// uniformly jittered point inside it and its occupancy becomes max(occ decay, new). Then the
  /// bit grid is refreshed. Draws from `generator` (on the grid's device). One host sync (the
  /// number of occupied cells) after the warm-up.
  void update(int64_t step, const Evaluate& evaluate, at::Generator generator);
  /// Refreshes every cell without decay (occ = evaluate at the cell centre), e.g. after loading
  /// a checkpoint or for a field set from outside.
  void reset(const Evaluate& evaluate);

  /// Marches rays (origins, unit directions [R, 3]) through the occupied cells in steps of
  /// `step_size` from their entry into the cube to their exit (ops::march_rays); `jitter` [R]
  /// in [0, 1) offsets each ray's first step (stratified sampling), undefined for none.
  ops::MarchedSamples march(const at::Tensor& origins, const at::Tensor& directions,
                            double step_size, const at::Tensor& jitter = {}) const;

  /// The EMA occupancy `[R, R, R]` float32, indexed [x, y, z].
  const at::Tensor& occupancy() const { return occupancy_; }
  /// The bit grid `[R, R, R]` bool.
  const at::Tensor& binary() const { return binary_; }
  /// The current threshold min(mean occupancy, occ_threshold) (a device scalar).
  const at::Tensor& threshold() const { return threshold_; }
  /// World centres of all cells `[R^3, 3]` in the order of occupancy().view(-1).
  at::Tensor cell_centres() const;
  double bound() const { return bound_; }
  /// Whether the grid has been updated, reset or set since it was made.
  bool updated() const { return updated_; }
  const OccupancyGridOptions& options() const { return options_; }
  /// Moves the state to `device`.
  void to(const at::Device& device);
  /// Replaces the state (checkpoints): occupancy `[R, R, R]`; the bits and threshold follow.
  void set_occupancy(const at::Tensor& occupancy);

 private:
  void refresh();
  // World points of cells (flat indices [M]) at cell coordinates + offset (in [0, 1), [M, 3] or
  // broadcast).
  at::Tensor cell_points(const at::Tensor& cells, const at::Tensor& offset) const;
  // Evaluates cells (flat indices [M]) at cell coordinates offset by `jitter` [M, 3] in [0, 1).
  at::Tensor evaluate_cells(const Evaluate& evaluate, const at::Tensor& cells,
                            const at::Tensor& jitter) const;

  OccupancyGridOptions options_;
  double bound_;
  at::Tensor occupancy_, binary_, threshold_;
  bool updated_ = false;
};

}  // namespace sds
