#include "sds/repr/voxel_grid.h"

#include <cmath>

#include <ATen/core/grad_mode.h>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/ops/composite_rays.h"
#include "sds/ops/trilinear_sample.h"

namespace sds {

std::pair<at::Tensor, at::Tensor> ray_cube_intersection(const at::Tensor& origins,
                                                        const at::Tensor& directions,
                                                        double bound) {
  // Slab test; a zero direction component gives +-inf, which min/max handle.
  at::Tensor inv = 1.0 / directions;
  at::Tensor t0 = (-bound - origins) * inv;
  at::Tensor t1 = (bound - origins) * inv;
  at::Tensor near = at::minimum(t0, t1).amax(-1).clamp_min(0.0);
  at::Tensor far = at::maximum(t0, t1).amin(-1);
  at::Tensor hit = far > near;
  return {at::where(hit, near, 0.0), at::where(hit, far, 0.0)};
}

VoxelGrid::VoxelGrid(VoxelGridOptions o) : options_(o) {
  SDS_CHECK(o.resolution >= 2 && o.resolution <= 512,
            "voxel_grid.resolution: expected 2..512, got {}", o.resolution);
  SDS_CHECK(o.samples_per_ray >= 1 && o.samples_per_ray <= 4096,
            "voxel_grid.samples_per_ray: expected 1..4096, got {}", o.samples_per_ray);
  SDS_CHECK(o.density_scale > 0, "voxel_grid.density_scale: expected > 0, got {}", o.density_scale);
  SDS_CHECK(o.blob_radius > 0, "voxel_grid.blob_radius: expected > 0, got {}", o.blob_radius);
  SDS_CHECK(o.density_lr > 0 && o.color_lr > 0,
            "voxel_grid: expected positive learning rates, got {} and {}", o.density_lr,
            o.color_lr);
  const int64_t r = o.resolution;
  at::Tensor coord = at::linspace(-1.0, 1.0, r, at::kFloat);
  at::Tensor z = coord.view({r, 1, 1}), y = coord.view({1, r, 1}), x = coord.view({1, 1, r});
  at::Tensor dist = (x * x + y * y + z * z).sqrt();
  density_ = (o.blob_density * (1.0 - dist / o.blob_radius)).view({1, 1, r, r, r}).contiguous();
  color_ = at::zeros({1, 3, r, r, r}, at::kFloat);
  density_.set_requires_grad(true);
  color_.set_requires_grad(true);
}

std::unique_ptr<Representation> VoxelGrid::from_config(ConfigReader& c,
                                                       const BuildContext& context) {
  VoxelGridOptions o;
  o.resolution = c.get("resolution", o.resolution);
  o.samples_per_ray = c.get("samples_per_ray", o.samples_per_ray);
  o.stratified = c.get("stratified", o.stratified);
  o.density_scale = c.get("density_scale", o.density_scale);
  o.blob_density = c.get("blob_density", o.blob_density);
  o.blob_radius = c.get("blob_radius", o.blob_radius);
  o.density_lr = c.get("density_lr", o.density_lr);
  o.color_lr = c.get("color_lr", o.color_lr);
  auto grid = std::make_unique<VoxelGrid>(o);
  grid->to(context.device);
  return grid;
}

void VoxelGrid::to(const at::Device& device) {
  check_device_usable(device, "voxel_grid");
  density_ = density_.detach().to(device).set_requires_grad(!geometry_fixed_);
  color_ = color_.detach().to(device).set_requires_grad(true);
}

std::pair<at::Tensor, at::Tensor> VoxelGrid::query(const at::Tensor& points) const {
  check_shape(points, "voxel grid points", {-1, 3}, "[N, 3]");
  // The fused sampler takes channels last, [D, H, W, 4]; points (x, y, z) index (W, H, D), and
  // voxel centres sit exactly at -1 and 1, matching the initialisation coordinates.
  at::Tensor channels_last = at::cat({density_, color_}, 1)[0].permute({1, 2, 3, 0});
  at::Tensor samples = ops::trilinear_sample(channels_last, points.to(density_.scalar_type())).t();
  at::Tensor sigma = options_.density_scale * at::softplus(samples[0]);
  at::Tensor rgb = at::sigmoid(samples.slice(0, 1, 4)).t();
  return {sigma, rgb};
}

RenderOutput VoxelGrid::render(const CameraBatch& cameras, const RenderOptions& options) {
  const int64_t b = cameras.size(), h = cameras.height(), w = cameras.width();
  const int64_t s = options_.samples_per_ray;
  constexpr int64_t kMaxSamples = int64_t{1} << 31;  // ~100 GB of float32 activations
  SDS_CHECK(b * h * w * s <= kMaxSamples,
            "voxel grid: {} rays x {} samples per ray is more than the {} samples a render can "
            "hold (fewer views, a smaller image or fewer samples_per_ray)",
            b * h * w, s, kMaxSamples);
  const at::Device device = density_.device();
  Rays rays = cameras.rays(1, at::kFloat, device);
  at::Tensor o = rays.origins.view({-1, 3}), d = rays.directions.view({-1, 3});
  const int64_t n_rays = o.size(0);
  auto [near, far] = ray_cube_intersection(o, d);
  // The offset is drawn on the CPU generator and moved, as the NeRF's, so a seed gives the same
  // samples on every device.
  at::Tensor offset = at::full({n_rays, 1}, 0.5, at::TensorOptions(at::kFloat).device(device));
  if (options_.stratified && options.generator.has_value()) {
    offset = at::rand({n_rays, 1}, *options.generator, at::kFloat).to(device);
  }
  at::Tensor u =
      (at::arange(s, at::TensorOptions(at::kFloat).device(device)).unsqueeze(0) + offset) /
      static_cast<double>(s);                                         // [R, S]
  at::Tensor ts = near.unsqueeze(1) + (far - near).unsqueeze(1) * u;  // [R, S]
  at::Tensor deltas = ((far - near) / static_cast<double>(s)).unsqueeze(1).expand({n_rays, s});
  at::Tensor points = o.unsqueeze(1) + d.unsqueeze(1) * ts.unsqueeze(2);  // [R, S, 3]
  auto [sigma, rgb] = query(points.view({-1, 3}));
  auto out = ops::composite_rays(sigma.view({n_rays, s}), rgb.view({n_rays, s, 3}),
                                 deltas.contiguous(), ts.contiguous());
  at::Tensor bg = to_device(
      at::tensor({options.background[0], options.background[1], options.background[2]}, at::kFloat),
      device);
  at::Tensor color = out.rgb + (1 - out.alpha).unsqueeze(1) * bg.unsqueeze(0);
  RenderOutput result;
  result.rgb = color.view({b, h, w, 3}).permute({0, 3, 1, 2});
  result.alpha = out.alpha.view({b, 1, h, w});
  result.depth = out.depth.view({b, 1, h, w});
  // HiFA's z-variance under the normalised weights (the z_variance regulariser's input).
  const at::Tensor wn = out.weights / out.alpha.clamp_min(1e-5).unsqueeze(1);
  const at::Tensor z_mean = (wn * ts).sum(1, true);
  result.z_variance = (wn * (ts - z_mean).square()).sum(1).view({b, 1, h, w});
  return result;
}

std::vector<ParameterGroup> VoxelGrid::parameter_groups() {
  if (geometry_fixed_) return {{"color", {color_}, options_.color_lr}};
  return {{"density", {density_}, options_.density_lr}, {"color", {color_}, options_.color_lr}};
}

void VoxelGrid::fix_geometry(const Occupancy& occupancy) {
  const int64_t r = options_.resolution;
  at::Tensor coord = at::linspace(-1.0, 1.0, r, at::kDouble);
  auto zyx = at::meshgrid({coord, coord, coord}, "ij");  // [z, y, x] like the grid
  at::Tensor points = at::stack({zyx[2], zyx[1], zyx[0]}, -1).view({-1, 3});
  at::Tensor occ = occupancy(points, 2.0 / static_cast<double>(r - 1));
  SDS_CHECK(occ.dim() == 1 && occ.size(0) == points.size(0),
            "voxel grid fix_geometry: expected {} occupancy values, got {}", points.size(0),
            shape_string(occ.sizes()));
  SDS_CHECK(at::isfinite(occ).all().item<bool>() && occ.min().item<double>() >= 0 &&
                occ.max().item<double>() <= 1,
            "voxel grid fix_geometry: expected occupancy in [0, 1]");
  at::NoGradGuard no_grad;
  density_ =
      (20.0 * (occ - 0.5)).to(density_.device(), at::kFloat).view({1, 1, r, r, r}).contiguous();
  geometry_fixed_ = true;
}

at::Tensor VoxelGrid::inside(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  const double cell = 2.0 / static_cast<double>(options_.resolution - 1);
  at::Tensor sigma = query(points.to(density_.device())).first.to(points.device(), at::kDouble);
  return sigma * cell >= std::log(2.0);
}

std::vector<std::pair<std::string, at::Tensor>> VoxelGrid::named_tensors() {
  return {{"density", density_}, {"color", color_}};
}

}  // namespace sds
