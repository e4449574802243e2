#include "sds/repr/occupancy_grid.h"

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/repr/voxel_grid.h"

namespace sds {

OccupancyGrid::OccupancyGrid(OccupancyGridOptions o, double bound, at::Device device)
    : options_(o), bound_(bound) {
  SDS_CHECK(o.resolution >= 1 && o.resolution <= 512,
            "occupancy_grid.resolution: expected 1..512, got {}", o.resolution);
  SDS_CHECK(o.update_every >= 1, "occupancy_grid.update_every: expected >= 1, got {}",
            o.update_every);
  SDS_CHECK(o.warmup_steps >= 0, "occupancy_grid.warmup_steps: expected >= 0, got {}",
            o.warmup_steps);
  SDS_CHECK(o.ema_decay >= 0 && o.ema_decay <= 1, "occupancy_grid.ema_decay: expected 0..1, got {}",
            o.ema_decay);
  SDS_CHECK(std::isfinite(o.occ_threshold) && o.occ_threshold > 0,
            "occupancy_grid.occ_threshold: expected > 0, got {}", o.occ_threshold);
  SDS_CHECK(std::isfinite(bound) && bound > 0, "occupancy_grid: bound: expected > 0, got {}",
            bound);
  const int64_t r = o.resolution;
  const auto opts = at::TensorOptions(at::kFloat).device(device);
  occupancy_ = at::zeros({r, r, r}, opts);
  threshold_ = at::zeros({}, opts);
  binary_ = at::ones({r, r, r}, opts.dtype(at::kBool));  // everything is marched until an update
}

void OccupancyGrid::refresh() {
  updated_ = true;
  threshold_ = occupancy_.mean().clamp_max(options_.occ_threshold);
  binary_ = occupancy_ > threshold_;
}

at::Tensor OccupancyGrid::cell_points(const at::Tensor& cells, const at::Tensor& offset) const {
  const int64_t r = options_.resolution;
  const at::Tensor ijk = at::stack(
      {cells.div(r * r, "floor"), cells.div(r, "floor").remainder(r), cells.remainder(r)}, 1);
  return (ijk.to(at::kFloat) + offset) * (2 * bound_ / static_cast<double>(r)) - bound_;
}

at::Tensor OccupancyGrid::cell_centres() const {
  const int64_t r = options_.resolution;
  return cell_points(at::arange(r * r * r, occupancy_.options().dtype(at::kLong)),
                     at::full({}, 0.5, occupancy_.options()));
}

at::Tensor OccupancyGrid::evaluate_cells(const Evaluate& evaluate, const at::Tensor& cells,
                                         const at::Tensor& jitter) const {
  const at::Tensor x = cell_points(cells, jitter);
  at::NoGradGuard no_grad;
  // In chunks, so that a 128^3 grid's evaluation does not hold its activations all at once.
  constexpr int64_t kChunk = int64_t{1} << 18;
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += kChunk) {
    const at::Tensor chunk = x.slice(0, i, i + kChunk);
    at::Tensor occ = evaluate(chunk);
    SDS_CHECK(occ.defined() && occ.dim() == 1 && occ.size(0) == chunk.size(0),
              "occupancy grid: the evaluation returned {}, expected [{}]",
              occ.defined() ? shape_string(occ.sizes()) : std::string("nothing"), chunk.size(0));
    parts.push_back(occ.detach().to(occupancy_.device(), at::kFloat));
  }
  return parts.empty() ? at::zeros({0}, occupancy_.options()) : at::cat(parts);
}

void OccupancyGrid::update(int64_t step, const Evaluate& evaluate, at::Generator generator) {
  const int64_t r = options_.resolution, n = r * r * r;
  const auto long_opts = occupancy_.options().dtype(at::kLong);
  at::Tensor cells;
  if (step < options_.warmup_steps) {
    cells = at::arange(n, long_opts);
  } else {
    const at::Tensor uniform = at::randint(n, {n / 4}, generator, long_opts);
    const at::Tensor occupied = binary_.view({-1}).nonzero().view({-1});  // a host sync
    const int64_t k = std::min<int64_t>(n / 4, occupied.size(0));
    const at::Tensor pick = at::randperm(occupied.size(0), generator, long_opts).slice(0, 0, k);
    cells = std::get<0>(at::_unique(at::cat({uniform, occupied.index_select(0, pick)}), true));
  }
  const at::Tensor jitter = at::rand({cells.size(0), 3}, generator, occupancy_.options());
  const at::Tensor fresh = evaluate_cells(evaluate, cells, jitter);
  at::Tensor flat = occupancy_.view({-1});
  flat.index_put_({cells}, at::maximum(flat.index_select(0, cells) * options_.ema_decay, fresh));
  refresh();
}

void OccupancyGrid::reset(const Evaluate& evaluate) {
  const int64_t r = options_.resolution;
  const at::Tensor cells = at::arange(r * r * r, occupancy_.options().dtype(at::kLong));
  occupancy_ =
      evaluate_cells(evaluate, cells, at::full({}, 0.5, occupancy_.options())).view({r, r, r});
  refresh();
}

ops::MarchedSamples OccupancyGrid::march(const at::Tensor& origins, const at::Tensor& directions,
                                         double step_size, const at::Tensor& jitter) const {
  auto [near, far] = ray_cube_intersection(origins, directions, bound_);
  return ops::march_rays(origins, directions, near, far, binary_, bound_, step_size, jitter);
}

void OccupancyGrid::to(const at::Device& device) {
  occupancy_ = occupancy_.to(device);
  threshold_ = threshold_.to(device);
  binary_ = binary_.to(device);
}

void OccupancyGrid::set_occupancy(const at::Tensor& occupancy) {
  const int64_t r = options_.resolution;
  check_shape(occupancy, "occupancy grid: occupancy", {r, r, r}, "[R, R, R]");
  occupancy_ = occupancy.detach().to(occupancy_.device(), at::kFloat).contiguous();
  refresh();
}

}  // namespace sds
