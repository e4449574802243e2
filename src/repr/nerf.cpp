#include "sds/repr/nerf.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

#include "sds/camera/sampler.h"
#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"
#include "sds/geometry/cavities.h"
#include "sds/geometry/marching_cubes.h"
#include "sds/geometry/visual_hull.h"
#include "sds/ops/composite_rays.h"
#include "sds/repr/voxel_grid.h"

namespace sds {
namespace {

constexpr uint64_t kOccupancyStream = 0x6f636367;  // "occg": the occupancy updates' draws
// Points per query outside training (inside(), lattices): bounds the activations held at once.
constexpr int64_t kQueryChunk = int64_t{1} << 16;
// Rays per chunk of silhouettes() (bounds the samples marched at once), and samples per ray in
// each of its rounds.
constexpr int64_t kSilhouetteRayChunk = int64_t{1} << 14;
constexpr int64_t kSilhouetteRound = 8;
// The silhouette views sit at this many box radii from the centre, with this field of view: the
// ball of the box's radius fills the view from every direction (sin 20 deg * 3 > 1).
constexpr double kSilhouetteDistance = 3.0;
constexpr double kSilhouetteFovyDeg = 40.0;

// A bias-free MLP as torch.nn.Linear initialises it: widths[0] -> ... -> widths.back().
std::vector<at::Tensor> make_mlp(const std::vector<int64_t>& widths, at::Generator& generator) {
  std::vector<at::Tensor> layers;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(widths[i]));
    at::Tensor w = at::empty({widths[i + 1], widths[i]}, at::kFloat);
    w.uniform_(-bound, bound, generator);
    layers.push_back(w.set_requires_grad(true));
  }
  return layers;
}

at::Tensor run_mlp(const std::vector<at::Tensor>& layers, at::Tensor x) {
  for (size_t i = 0; i < layers.size(); ++i) {
    x = at::matmul(x, layers[i].t());
    if (i + 1 < layers.size()) x = at::relu(x);
  }
  return x;
}

std::vector<at::Tensor> moved(const std::vector<at::Tensor>& layers, const at::Device& device) {
  std::vector<at::Tensor> out;
  for (const auto& w : layers) out.push_back(w.detach().to(device).set_requires_grad(true));
  return out;
}

// exp(x) whose gradient is exp(min(x, 15)) (threestudio's trunc_exp), first order.
at::Tensor trunc_exp(const at::Tensor& x) {
  const at::Tensor slope = at::exp(x.clamp_max(15.0)).detach();
  return at::exp(x).detach() + slope * (x - x.detach());
}

at::Tensor activate(const std::string& name, const at::Tensor& x) {
  if (name == "softplus") return at::softplus(x);
  if (name == "exp") return at::exp(x);
  if (name == "trunc_exp") return trunc_exp(x);
  if (name == "shifted_softplus") return at::softplus(x - 1.0);
  return at::exp(x - 1.0);  // shifted_exp
}

// The 9 real spherical harmonics of degrees 0..2 of unit directions [N, 3].
at::Tensor sh_degree2(const at::Tensor& d) {
  const at::Tensor x = d.select(1, 0), y = d.select(1, 1), z = d.select(1, 2);
  return at::stack({at::full_like(x, 0.28209479177387814), -0.4886025119029199 * y,
                    0.4886025119029199 * z, -0.4886025119029199 * x, 1.0925484305920792 * x * y,
                    -1.0925484305920792 * y * z, 0.31539156525252005 * (2 * z * z - x * x - y * y),
                    -1.0925484305920792 * x * z, 0.5462742152960396 * (x * x - y * y)},
                   1);
}

// Sums per-sample values [N, C] (or [N]) into their rays [R, C] (or [R]), differentiably.
at::Tensor per_ray(const at::Tensor& values, const at::Tensor& ray_indices, int64_t R) {
  std::vector<int64_t> sizes = values.sizes().vec();
  sizes[0] = R;
  return at::zeros(sizes, values.options()).index_add(0, ray_indices, values);
}

void check_one_of(const std::string& value, const std::string& key,
                  std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return;
    list += list.empty() ? std::string("\"") + a + "\"" : std::string(", \"") + a + "\"";
  }
  fail("nerf.{}: expected one of {}, got \"{}\"", key, list, value);
}

// The cells of a lattice's solid [n, n, n] (bool) in the cavities it encloses.
at::Tensor enclosed_cavities(const at::Tensor& solid) {
  return fill_enclosed_cavities(solid) & ~solid;
}

// Samples that survive pruning and their rays' offsets.
struct Kept {
  at::Tensor ray_indices, t_mid, deltas, offsets;
};

}  // namespace

Nerf::Nerf(NerfOptions o, uint64_t seed)
    : options_(std::move(o)),
      seed_(seed),
      layout_(ops::HashGridLayout::make(options_.grid)),
      occupancy_(options_.occupancy_grid, options_.radius) {
  const NerfOptions& c = options_;
  SDS_CHECK(std::isfinite(c.radius) && c.radius > 0, "nerf.radius: expected > 0, got {}", c.radius);
  SDS_CHECK(c.mlp_neurons >= 1 && c.mlp_neurons <= 1024,
            "nerf.mlp_neurons: expected 1..1024, got {}", c.mlp_neurons);
  SDS_CHECK(c.mlp_hidden_layers >= 0 && c.mlp_hidden_layers <= 8,
            "nerf.mlp_hidden_layers: expected 0..8, got {}", c.mlp_hidden_layers);
  check_one_of(c.density_activation, "density_activation",
               {"softplus", "exp", "trunc_exp", "shifted_softplus", "shifted_exp"});
  check_one_of(c.density_bias, "density_bias", {"blob_magic3d", "blob_dreamfusion", "none"});
  SDS_CHECK(c.density_blob_std > 0, "nerf.density_blob_std: expected > 0, got {}",
            c.density_blob_std);
  check_one_of(c.normal_type, "normal_type", {"finite_difference", "analytic", "none"});
  SDS_CHECK(c.finite_difference_eps > 0, "nerf.finite_difference_eps: expected > 0, got {}",
            c.finite_difference_eps);
  SDS_CHECK(c.samples_per_ray >= 1 && c.samples_per_ray <= 8192,
            "nerf.samples_per_ray: expected 1..8192, got {}", c.samples_per_ray);
  SDS_CHECK(c.early_stop_eps >= 0 && c.early_stop_eps < 1,
            "nerf.early_stop_eps: expected [0, 1), got {}", c.early_stop_eps);
  SDS_CHECK(c.alpha_threshold >= 0 && c.alpha_threshold < 1,
            "nerf.alpha_threshold: expected [0, 1), got {}", c.alpha_threshold);
  check_one_of(c.background, "background", {"solid", "mlp"});
  check_one_of(c.eval_shading, "eval_shading", {"albedo", "diffuse", "textureless"});
  for (const auto& [name, p] : {std::pair{"albedo_prob", c.albedo_prob},
                                std::pair{"textureless_prob", c.textureless_prob}}) {
    SDS_CHECK(p >= 0 && p <= 1, "nerf.{}: expected a probability in [0, 1], got {}", name, p);
  }
  SDS_CHECK(c.ambient >= 0 && c.diffuse >= 0, "nerf: expected ambient, diffuse >= 0, got {}, {}",
            c.ambient, c.diffuse);
  SDS_CHECK(c.light_distance[0] > 0 && c.light_distance[1] >= c.light_distance[0],
            "nerf.light_distance: expected 0 < low <= high, got [{}, {}]", c.light_distance[0],
            c.light_distance[1]);
  SDS_CHECK(c.grid_lr > 0 && c.mlp_lr > 0 && c.background_lr > 0,
            "nerf: expected positive learning rates, got {}, {}, {}", c.grid_lr, c.mlp_lr,
            c.background_lr);
  SDS_CHECK(c.isosurface_threshold > 0, "nerf.isosurface_threshold: expected > 0, got {}",
            c.isosurface_threshold);
  SDS_CHECK(c.mesh_resolution >= 8 && c.mesh_resolution <= 512,
            "nerf.mesh_resolution: expected 8..512, got {}", c.mesh_resolution);
  SDS_CHECK(!(c.isosurface_auto && c.isosurface_occupancy),
            "nerf.isosurface_threshold: \"auto\" and \"occupancy\" exclude each other");
  SDS_CHECK(!c.isosurface_occupancy || c.alpha_threshold > 0,
            "nerf.isosurface_threshold: \"occupancy\" needs alpha_threshold > 0, got {}",
            c.alpha_threshold);
  SDS_CHECK(c.silhouette_views >= 0 && c.silhouette_views <= 1024,
            "nerf.silhouette_views: expected 0..1024 (0: no trimming), got {}", c.silhouette_views);
  SDS_CHECK(c.silhouette_resolution >= 8 && c.silhouette_resolution <= 1024,
            "nerf.silhouette_resolution: expected 8..1024, got {}", c.silhouette_resolution);
  SDS_CHECK(c.normal_type != "none" || (c.albedo_prob == 1.0 && c.eval_shading == "albedo"),
            "nerf: normal_type \"none\" renders albedo only: set albedo_prob 1 and eval_shading "
            "\"albedo\"");
  at::Generator generator = make_generator(derive_seed(seed, 0x6e657266));  // "nerf"
  grid_ = ops::hash_grid_init(layout_, at::kCPU, generator).set_requires_grad(true);
  const int64_t width = layout_.n_output_dims();
  std::vector<int64_t> density_widths{width}, albedo_widths{width};
  for (int64_t i = 0; i < c.mlp_hidden_layers; ++i) {
    density_widths.push_back(c.mlp_neurons);
    albedo_widths.push_back(c.mlp_neurons);
  }
  density_widths.push_back(1);
  albedo_widths.push_back(3);
  density_mlp_ = make_mlp(density_widths, generator);
  albedo_mlp_ = make_mlp(albedo_widths, generator);
  if (c.background == "mlp") background_mlp_ = make_mlp({9, 16, 16, 3}, generator);
}

std::unique_ptr<Representation> Nerf::from_config(ConfigReader& c, const BuildContext& context) {
  NerfOptions o;
  o.radius = c.get("radius", o.radius);
  if (c.has("grid")) {
    ConfigReader g(c.raw("grid"), c.where() + ".grid");
    o.grid.n_levels = g.get("n_levels", o.grid.n_levels);
    o.grid.n_features_per_level = g.get("n_features_per_level", o.grid.n_features_per_level);
    o.grid.log2_hashmap_size = g.get("log2_hashmap_size", o.grid.log2_hashmap_size);
    o.grid.base_resolution = g.get("base_resolution", o.grid.base_resolution);
    o.grid.per_level_scale = g.get("per_level_scale", o.grid.per_level_scale);
    g.finish();
  }
  o.mlp_neurons = c.get("mlp_neurons", o.mlp_neurons);
  o.mlp_hidden_layers = c.get("mlp_hidden_layers", o.mlp_hidden_layers);
  o.density_activation = c.get("density_activation", o.density_activation);
  o.density_bias = c.get("density_bias", o.density_bias);
  o.density_blob_scale = c.get("density_blob_scale", o.density_blob_scale);
  o.density_blob_std = c.get("density_blob_std", o.density_blob_std);
  o.normal_type = c.get("normal_type", o.normal_type);
  o.finite_difference_eps = c.get("finite_difference_eps", o.finite_difference_eps);
  o.samples_per_ray = c.get("samples_per_ray", o.samples_per_ray);
  o.grid_prune = c.get("grid_prune", o.grid_prune);
  if (c.has("occupancy_grid")) {
    ConfigReader g(c.raw("occupancy_grid"), c.where() + ".occupancy_grid");
    OccupancyGridOptions& q = o.occupancy_grid;
    q.resolution = g.get("resolution", q.resolution);
    q.update_every = g.get("update_every", q.update_every);
    q.warmup_steps = g.get("warmup_steps", q.warmup_steps);
    q.ema_decay = g.get("ema_decay", q.ema_decay);
    q.occ_threshold = g.get("occ_threshold", q.occ_threshold);
    g.finish();
  }
  o.early_stop_eps = c.get("early_stop_eps", o.early_stop_eps);
  o.alpha_threshold = c.get("alpha_threshold", o.alpha_threshold);
  o.background = c.get("background", o.background);
  o.ambient_only_steps = c.get("ambient_only_steps", o.ambient_only_steps);
  o.albedo_prob = c.get("albedo_prob", o.albedo_prob);
  o.textureless_prob = c.get("textureless_prob", o.textureless_prob);
  o.ambient = c.get("ambient", o.ambient);
  o.diffuse = c.get("diffuse", o.diffuse);
  o.soft_shading = c.get("soft_shading", o.soft_shading);
  o.light_distance = c.get("light_distance", o.light_distance);
  o.light_position_perturb = c.get("light_position_perturb", o.light_position_perturb);
  o.eval_shading = c.get("eval_shading", o.eval_shading);
  o.eval_light = c.get("eval_light", o.eval_light);
  o.grid_lr = c.get("grid_lr", o.grid_lr);
  o.mlp_lr = c.get("mlp_lr", o.mlp_lr);
  o.background_lr = c.get("background_lr", o.background_lr);
  if (c.has("isosurface_threshold") && c.raw("isosurface_threshold").is_string()) {
    const std::string mode = c.get<std::string>("isosurface_threshold", "");
    SDS_CHECK(mode == "auto" || mode == "occupancy",
              "{}.isosurface_threshold: expected a number, \"auto\" or \"occupancy\", got \"{}\"",
              c.where(), mode);
    o.isosurface_auto = mode == "auto";
    o.isosurface_occupancy = mode == "occupancy";
  } else {
    o.isosurface_threshold = c.get("isosurface_threshold", o.isosurface_threshold);
  }
  o.mesh_resolution = c.get("mesh_resolution", o.mesh_resolution);
  o.fill_cavities = c.get("fill_cavities", o.fill_cavities);
  o.silhouette_views = c.get("silhouette_views", o.silhouette_views);
  o.silhouette_resolution = c.get("silhouette_resolution", o.silhouette_resolution);
  auto nerf = std::make_unique<Nerf>(o, context.seed);
  nerf->to(context.device);
  return nerf;
}

void Nerf::to(const at::Device& device) {
  check_device_usable(device, "nerf");
  grid_ = grid_.detach().to(device).set_requires_grad(true);
  density_mlp_ = moved(density_mlp_, device);
  albedo_mlp_ = moved(albedo_mlp_, device);
  background_mlp_ = moved(background_mlp_, device);
  occupancy_.to(device);
}

double Nerf::step_size() const {
  return std::sqrt(3.0) * 2 * options_.radius / static_cast<double>(options_.samples_per_ray);
}

at::Tensor Nerf::encode(const at::Tensor& points) const {
  const at::Tensor u = (points + options_.radius) / (2 * options_.radius);
  return ops::hash_grid_encode(grid_, u, layout_);
}

at::Tensor Nerf::activated_density(const at::Tensor& raw, const at::Tensor& points) const {
  // The blob is added before the activation, from the world position (threestudio).
  const double s = options_.density_blob_scale, std = options_.density_blob_std;
  at::Tensor x = raw;
  if (options_.density_bias == "blob_magic3d") {
    x = raw + s * (1 - points.norm(2, 1) / std);
  } else if (options_.density_bias == "blob_dreamfusion") {
    x = raw + s * at::exp(-0.5 * points.square().sum(1) / (std * std));
  }
  return activate(options_.density_activation, x);
}

at::Tensor Nerf::density(const at::Tensor& points) const {
  return activated_density(run_mlp(density_mlp_, encode(points)).squeeze(1), points);
}

std::pair<at::Tensor, at::Tensor> Nerf::query(const at::Tensor& points) const {
  check_shape(points, "nerf points", {-1, 3}, "[N, 3]");
  const at::Tensor x = points.to(grid_.device(), at::kFloat);
  const at::Tensor features = encode(x);
  return {activated_density(run_mlp(density_mlp_, features).squeeze(1), x),
          at::sigmoid(run_mlp(albedo_mlp_, features))};
}

at::Tensor Nerf::normals(const at::Tensor& points, const at::Tensor& sigma) const {
  SDS_CHECK(options_.normal_type != "none", "nerf: normal_type \"none\" has no normals");
  at::Tensor grad;
  if (options_.normal_type == "analytic") {
    const at::Tensor x = points.detach().requires_grad_(true);
    const at::Tensor s = density(x);
    grad = torch::autograd::grad({s.sum()}, {x}, {}, /*retain_graph=*/true,
                                 /*create_graph=*/at::GradMode::is_enabled())[0];
  } else {
    const double eps = options_.finite_difference_eps, r = options_.radius;
    const at::Tensor eye = at::eye(3, points.options()) * eps;
    std::vector<at::Tensor> diffs;
    for (int a = 0; a < 3; ++a) {
      const at::Tensor shifted = (points + eye[a]).clamp(-r, r);
      diffs.push_back((density(shifted) - sigma) / eps);
    }
    grad = at::stack(diffs, 1);
  }
  return -grad / grad.norm(2, 1, true).clamp_min(1e-12);
}

at::Tensor Nerf::background_colour(const at::Tensor& directions,
                                   const RenderOptions& options) const {
  if (options_.background == "mlp") {
    return at::sigmoid(run_mlp(background_mlp_, sh_degree2(directions)));
  }
  const at::Tensor bg = to_device(
      at::tensor({options.background[0], options.background[1], options.background[2]}, at::kFloat),
      directions.device());
  return bg.unsqueeze(0).expand({directions.size(0), 3});
}

RenderOutput Nerf::render(const CameraBatch& cameras, const RenderOptions& options) {
  const int64_t b = cameras.size(), h = cameras.height(), w = cameras.width();
  const at::Device device = grid_.device();
  const auto fopts = at::TensorOptions(at::kFloat).device(device);
  Rays rays = cameras.rays(1, at::kFloat, device);
  const at::Tensor o = rays.origins.view({-1, 3}), d = rays.directions.view({-1, 3});
  const int64_t R = o.size(0);
  const bool training = options.generator.has_value();
  at::Generator gen = training ? *options.generator : at::Generator();

  // March: stratified during training, deterministic otherwise.
  at::Tensor jitter;
  if (training) jitter = at::rand({R}, gen, at::kFloat).to(device);
  if (options_.grid_prune && !occupancy_.updated()) update_occupancy(0);  // nerfacc's step-0 update
  const ops::MarchedSamples marched = march(o, d, jitter);
  Kept kept{marched.ray_indices, 0.5 * (marched.t_starts + marched.t_ends),
            marched.t_ends - marched.t_starts, marched.ray_offsets};

  // Visibility pruning: densities without gradients, then keep the samples that are visible
  // (transmittance >= early_stop_eps) and not transparent (alpha >= alpha threshold).
  if (kept.t_mid.size(0) > 0 && (options_.early_stop_eps > 0 || options_.alpha_threshold > 0)) {
    at::NoGradGuard no_grad;
    const at::Tensor x = o.index_select(0, kept.ray_indices) +
                         d.index_select(0, kept.ray_indices) * kept.t_mid.unsqueeze(1);
    const at::Tensor sigma = density(x);
    const auto comp = ops::composite_rays_packed(sigma, at::zeros({sigma.size(0), 3}, fopts),
                                                 kept.deltas, kept.t_mid, kept.offsets);
    const at::Tensor alpha = 1 - at::exp(-sigma * kept.deltas);
    const at::Tensor trans = comp.weights / alpha.clamp_min(1e-30);
    at::Tensor threshold = occupancy_.threshold().clamp_max(options_.alpha_threshold);
    if (!options_.grid_prune) threshold = at::full({}, options_.alpha_threshold, fopts);
    const at::Tensor keep = (alpha >= threshold) & (alpha > 0) & (trans >= options_.early_stop_eps);
    const at::Tensor index = keep.nonzero().view({-1});
    kept.ray_indices = kept.ray_indices.index_select(0, index);
    kept.t_mid = kept.t_mid.index_select(0, index);
    kept.deltas = kept.deltas.index_select(0, index);
    kept.offsets = at::cat(
        {at::zeros({1}, kept.offsets.options()), at::bincount(kept.ray_indices, {}, R).cumsum(0)});
  }

  const at::Tensor ray_o = o.index_select(0, kept.ray_indices);
  const at::Tensor ray_d = d.index_select(0, kept.ray_indices);
  const at::Tensor x = ray_o + ray_d * kept.t_mid.unsqueeze(1);
  auto [sigma, albedo] = query(x);

  // The shading of this render.
  std::string shading = options_.eval_shading;
  if (training) {
    shading = "albedo";
    if (options.step >= options_.ambient_only_steps) {
      const at::Tensor u = at::rand({2}, gen, at::kDouble);
      if (u[0].item<double>() >= options_.albedo_prob) {
        shading = u[1].item<double>() < options_.textureless_prob ? "textureless" : "diffuse";
      }
    }
  }
  const bool with_normals = options_.normal_type != "none";
  at::Tensor normals;
  if (with_normals) normals = this->normals(x, sigma);
  at::Tensor colour = albedo;
  if (shading != "albedo") {
    SDS_CHECK(with_normals, "nerf: shading \"{}\" needs normals (normal_type is \"none\")",
              shading);
    at::Tensor light;  // [B, 3] light positions
    double ambient = options_.ambient, diffuse = options_.diffuse;
    if (training) {
      const at::Tensor cam = cameras.c2w().slice(2, 3, 4).squeeze(2).slice(1, 0, 3);  // [B, 3]
      const at::Tensor dir =
          cam + at::randn({b, 3}, gen, at::kFloat) * options_.light_position_perturb;
      const at::Tensor dist = at::rand({b, 1}, gen, at::kFloat) *
                                  (options_.light_distance[1] - options_.light_distance[0]) +
                              options_.light_distance[0];
      light = (dir / dir.norm(2, 1, true) * dist).to(device);
      if (options_.soft_shading) {
        diffuse = at::rand({1}, gen, at::kDouble).item<double>();
        ambient = 1 - diffuse;
      }
    } else {
      light = at::tensor({options_.eval_light[0], options_.eval_light[1], options_.eval_light[2]},
                         at::kFloat)
                  .to(device)
                  .unsqueeze(0)
                  .expand({b, 3});
    }
    const at::Tensor view = kept.ray_indices.div(h * w, "floor");
    const at::Tensor l = light.index_select(0, view) - x;
    const at::Tensor lambert =
        (normals * l / l.norm(2, 1, true).clamp_min(1e-12)).sum(1).clamp_min(0);
    const at::Tensor shade = (ambient + diffuse * lambert).unsqueeze(1);
    colour = shading == "textureless" ? shade.expand({-1, 3}) : albedo.clamp(0, 1) * shade;
  }

  const auto comp =
      ops::composite_rays_packed(sigma, colour.contiguous(), kept.deltas, kept.t_mid, kept.offsets);
  const at::Tensor bg = background_colour(d, options);
  const at::Tensor rgb = comp.rgb + (1 - comp.alpha).unsqueeze(1) * bg;
  RenderOutput out;
  auto image = [&](const at::Tensor& per_pixel, int64_t channels) {
    return per_pixel.reshape({b, h, w, channels}).permute({0, 3, 1, 2});
  };
  out.rgb = image(rgb, 3);
  out.alpha = image(comp.alpha, 1);
  out.depth = image(comp.depth, 1);
  // HiFA's z-variance under the normalised weights.
  const at::Tensor wn = comp.weights / comp.alpha.index_select(0, kept.ray_indices).clamp_min(1e-5);
  const at::Tensor z_mean = per_ray(wn * kept.t_mid, kept.ray_indices, R);
  const at::Tensor dz = kept.t_mid - z_mean.index_select(0, kept.ray_indices);
  out.z_variance = image(per_ray(wn * dz * dz, kept.ray_indices, R), 1);
  if (with_normals) {
    out.normal = image(per_ray(comp.weights.unsqueeze(1) * normals, kept.ray_indices, R), 3);
    const at::Tensor facing = (normals * ray_d).sum(1).clamp_min(0);
    out.orientation =
        image(per_ray(comp.weights.detach() * facing * facing, kept.ray_indices, R), 1);
  }
  return out;
}

std::vector<ParameterGroup> Nerf::parameter_groups() {
  std::vector<at::Tensor> mlps = density_mlp_;
  mlps.insert(mlps.end(), albedo_mlp_.begin(), albedo_mlp_.end());
  std::vector<ParameterGroup> groups{{"grid", {grid_}, options_.grid_lr},
                                     {"mlp", mlps, options_.mlp_lr}};
  if (!background_mlp_.empty())
    groups.push_back({"background", background_mlp_, options_.background_lr});
  return groups;
}

std::vector<std::pair<std::string, at::Tensor>> Nerf::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out{{"grid", grid_}};
  for (size_t i = 0; i < density_mlp_.size(); ++i) {
    out.emplace_back("density_mlp." + std::to_string(i), density_mlp_[i]);
  }
  for (size_t i = 0; i < albedo_mlp_.size(); ++i) {
    out.emplace_back("albedo_mlp." + std::to_string(i), albedo_mlp_[i]);
  }
  for (size_t i = 0; i < background_mlp_.size(); ++i) {
    out.emplace_back("background_mlp." + std::to_string(i), background_mlp_[i]);
  }
  out.emplace_back("occupancy", occupancy_.occupancy());
  return out;
}

void Nerf::restore_tensors(const std::map<std::string, at::Tensor>& stored,
                           OptimizerState& optimizer) {
  Representation::restore_tensors(stored, optimizer);
  occupancy_.set_occupancy(occupancy_.occupancy());  // the bits follow the restored EMA
}

void Nerf::update_occupancy(int64_t step) {
  const double step_size = this->step_size();
  at::Generator generator = make_generator(
      derive_seed(seed_, kOccupancyStream, static_cast<uint64_t>(step)), grid_.device());
  occupancy_.update(
      step, [&](const at::Tensor& x) { return density(x) * step_size; }, generator);
}

void Nerf::after_step(int64_t step, OptimizerState&) {
  if (options_.grid_prune && occupancy_.updates_at(step + 1)) update_occupancy(step + 1);
}

ops::MarchedSamples Nerf::march(const at::Tensor& origins, const at::Tensor& directions,
                                const at::Tensor& jitter) const {
  if (options_.grid_prune && occupancy_.updated()) {
    return occupancy_.march(origins, directions, step_size(), jitter);
  }
  auto [near, far] = ray_cube_intersection(origins, directions, options_.radius);
  return ops::march_rays(origins, directions, near, far,
                         at::ones({1, 1, 1}, origins.options().dtype(at::kBool)), options_.radius,
                         step_size(), jitter);
}

at::Tensor Nerf::lattice_points(int64_t n) const {
  const double r = options_.radius;
  const at::Tensor coord =
      at::linspace(-r, r, n, at::TensorOptions(at::kFloat).device(grid_.device()));
  auto xyz = at::meshgrid({coord, coord, coord}, "ij");
  return at::stack({xyz[0], xyz[1], xyz[2]}, -1).view({-1, 3});
}

at::Tensor Nerf::density_no_grad(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < points.size(0); i += kQueryChunk) {
    parts.push_back(density(points.slice(0, i, i + kQueryChunk)));
  }
  if (parts.empty()) return at::zeros({0}, points.options());
  return at::cat(parts);
}

at::Tensor Nerf::density_lattice(int64_t n) const {
  return density_no_grad(lattice_points(n)).view({n, n, n}).cpu();
}

double Nerf::isosurface_level() const {
  if (options_.isosurface_occupancy) return -std::log1p(-options_.alpha_threshold) / step_size();
  if (!options_.isosurface_auto) return options_.isosurface_threshold;
  const at::Tensor sigma = density_lattice(64);
  const at::Tensor some = sigma.masked_select(sigma > 1e-5);
  SDS_CHECK(some.numel() > 0, "nerf: the density is zero everywhere; no \"auto\" iso-surface");
  return some.mean().item<double>();
}

at::Tensor Nerf::silhouettes(const CameraBatch& cameras, double min_opacity) const {
  SDS_CHECK(min_opacity > 0 && min_opacity < 1,
            "nerf silhouettes: expected min_opacity in (0, 1), got {}", min_opacity);
  at::NoGradGuard no_grad;
  const int64_t b = cameras.size(), h = cameras.height(), w = cameras.width();
  const at::Device device = grid_.device();
  const Rays rays = cameras.rays(1, at::kFloat, device);
  const at::Tensor o = rays.origins.view({-1, 3}), d = rays.directions.view({-1, 3});
  const double target = -std::log1p(-min_opacity);
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < o.size(0); start += kSilhouetteRayChunk) {
    const at::Tensor oc = o.slice(0, start, start + kSilhouetteRayChunk);
    const at::Tensor dc = d.slice(0, start, start + kSilhouetteRayChunk);
    const ops::MarchedSamples m = march(oc, dc, {});
    // Rounds of the next few samples of every ray not yet opaque enough: a ray stops soon
    // after its surface instead of marching through the whole object.
    at::Tensor optical = at::zeros({oc.size(0)}, oc.options());
    at::Tensor ray = at::arange(oc.size(0), m.ray_offsets.options());
    at::Tensor next = m.ray_offsets.slice(0, 0, -1), end = m.ray_offsets.slice(0, 1);
    const at::Tensor lane = at::arange(kSilhouetteRound, m.ray_offsets.options());
    while (true) {
      const at::Tensor active = (next < end).nonzero().view({-1});
      if (active.size(0) == 0) break;  // one read per round of a whole chunk, not per step
      ray = ray.index_select(0, active);
      next = next.index_select(0, active);
      end = end.index_select(0, active);
      const at::Tensor index = next.unsqueeze(1) + lane;  // [A, round]
      const at::Tensor valid = (index < end.unsqueeze(1)).view({-1});
      const at::Tensor sample = index.view({-1}).masked_select(valid);
      const at::Tensor owner = ray.unsqueeze(1).expand_as(index).reshape({-1}).masked_select(valid);
      const at::Tensor t0 = m.t_starts.index_select(0, sample);
      const at::Tensor t1 = m.t_ends.index_select(0, sample);
      const at::Tensor x =
          oc.index_select(0, owner) + dc.index_select(0, owner) * (0.5 * (t0 + t1)).unsqueeze(1);
      optical.index_add_(0, owner, density_no_grad(x) * (t1 - t0));
      next = at::where(optical.index_select(0, ray) < target, next + kSilhouetteRound, end);
    }
    parts.push_back(optical >= target);
  }
  return at::cat(parts).view({b, h, w});
}

at::Tensor Nerf::inside_silhouettes(const at::Tensor& points) const {
  const CameraBatch views(sphere_views(
      options_.silhouette_views, kSilhouetteDistance * options_.radius, kSilhouetteFovyDeg,
      options_.silhouette_resolution, options_.silhouette_resolution));
  return inside_visual_hull(points, silhouettes(views, 0.5), views.viewmats(), views.Ks());
}

at::Tensor Nerf::inside(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  check_shape(points, "nerf inside: points", {-1, 3}, "[N, 3]");
  check_floating(points, "nerf inside: points");
  if (points.size(0) == 0) {
    return at::zeros({0}, at::TensorOptions(at::kBool).device(points.device()));
  }
  const double level = isosurface_level();
  const at::Tensor x = points.to(grid_.device(), at::kFloat);
  at::Tensor solid = density_no_grad(x) >= level;
  if (options_.fill_cavities) {
    // The cavities live on the mesh lattice; a point takes its nearest lattice point's.
    const int64_t n = options_.mesh_resolution;
    const at::Tensor cavity = enclosed_cavities(density_lattice(n) >= level).to(grid_.device());
    const double r = options_.radius;
    const at::Tensor index =
        at::round((x + r) / (2 * r) * static_cast<double>(n - 1)).to(at::kLong);
    const at::Tensor in_box = (index >= 0).all(1) & (index < n).all(1);
    const at::Tensor clamped = index.clamp(0, n - 1);
    const at::Tensor flat =
        (clamped.select(1, 0) * n + clamped.select(1, 1)) * n + clamped.select(1, 2);
    solid = solid | (in_box & cavity.view(-1).index_select(0, flat));
  }
  if (options_.silhouette_views > 0) solid = solid & inside_silhouettes(x);
  return solid.to(points.device());
}

Mesh Nerf::extract_mesh() const {
  at::NoGradGuard no_grad;
  const double r = options_.radius, level = isosurface_level();
  const int64_t n = options_.mesh_resolution;
  at::Tensor sigma = density_lattice(n);
  if (options_.fill_cavities) {
    // Above the level by as much as the densest point, so the cavity's wall leaves no surface.
    sigma = at::where(
        enclosed_cavities(sigma >= level),
        at::full({}, std::max(2 * level, sigma.max().item<double>()), sigma.options()), sigma);
  }
  if (options_.silhouette_views > 0) {
    const at::Tensor hull = inside_silhouettes(lattice_points(n)).view({n, n, n}).cpu();
    sigma = at::where(hull, sigma, at::zeros({}, sigma.options()));
  }
  Mesh mesh = marching_cubes(sigma, level, {-r, -r, -r}, {r, r, r});
  SDS_CHECK(mesh.num_faces() > 0,
            "nerf: the solid is empty: the density never reaches the iso-surface level {} (its "
            "maximum is {}) inside the silhouettes",
            level, sigma.max().item<double>());
  mesh.colors = query(mesh.vertices.to(at::kFloat)).second.cpu().clamp(0, 1);
  return mesh;
}

void Nerf::export_file(const std::filesystem::path& path, const std::string& format) {
  if (format == "obj") {
    write_obj(path, extract_mesh());
  } else if (format == "mesh_ply") {
    write_mesh_ply(path, extract_mesh());
  } else {
    fail("{}: nerf exports \"obj\" or \"mesh_ply\", not \"{}\"", path.string(), format);
  }
}

}  // namespace sds
