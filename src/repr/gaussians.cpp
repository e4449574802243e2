#include "sds/repr/gaussians.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"
#include "sds/geometry/marching_cubes.h"
#include "sds/geometry/splat_field.h"
#include "sds/ops/rasterize.h"
#include "sds/repr/gaussian_ply.h"

namespace sds {

namespace {

constexpr uint64_t kInitStream = 0x47494e4954ULL;
constexpr double kShC0 = 0.28209479177387814;  // Y_0: rgb = C0 f_dc + 0.5

double logit(double p) { return std::log(p / (1.0 - p)); }

void check_options(const GaussiansOptions& o) {
  SDS_CHECK(o.init == "ball" || o.init == "ply",
            "gaussians.init: expected \"ball\" or \"ply\", got \"{}\"", o.init);
  SDS_CHECK(o.num_points >= 1 && o.num_points <= kMaxGaussians,
            "gaussians.num_points: expected 1..{}, got {}", kMaxGaussians, o.num_points);
  SDS_CHECK(o.init_radius > 0, "gaussians.init_radius: expected > 0, got {}", o.init_radius);
  SDS_CHECK(o.init_opacity > 0 && o.init_opacity < 1,
            "gaussians.init_opacity: expected a value in (0, 1), got {}", o.init_opacity);
  SDS_CHECK(o.sh_degree >= 0 && o.sh_degree <= 3, "gaussians.sh_degree: expected 0..3, got {}",
            o.sh_degree);
  SDS_CHECK(o.sh_degree_every >= 1, "gaussians.sh_degree_every: expected >= 1, got {}",
            o.sh_degree_every);
  for (double lr : {o.means_lr, o.means_lr_final, o.sh0_lr, o.shN_lr, o.opacity_lr, o.scale_lr,
                    o.quat_lr}) {
    SDS_CHECK(lr > 0, "gaussians: expected positive learning rates, got {}", lr);
  }
  SDS_CHECK(o.means_lr_steps >= 1, "gaussians.means_lr_steps: expected >= 1, got {}",
            o.means_lr_steps);
  SDS_CHECK(o.mesh_resolution >= 8 && o.mesh_resolution <= 1024,
            "gaussians.mesh_resolution: expected 8..1024, got {}", o.mesh_resolution);
  SDS_CHECK(o.mesh_iso > 0, "gaussians.mesh_iso: expected > 0, got {}", o.mesh_iso);
}

// Uniform in a ball (phi uniform, cos theta uniform, r = R u^(1/3)): DreamGaussian's init.
at::Tensor ball_points(int64_t n, double radius, at::Generator& gen) {
  at::Tensor u = at::rand({n, 3}, gen, at::kDouble);
  at::Tensor phi = u.select(1, 0) * (2 * M_PI);
  at::Tensor cos_t = u.select(1, 1) * 2 - 1;
  at::Tensor sin_t = at::sqrt(1 - cos_t * cos_t);
  at::Tensor r = radius * at::pow(u.select(1, 2), 1.0 / 3.0);
  return at::stack({r * sin_t * at::cos(phi), r * sin_t * at::sin(phi), r * cos_t}, 1)
      .to(at::kFloat);
}

// Rotation matrices [N, 3, 3] of raw quaternions [N, 4].
at::Tensor rotations(const at::Tensor& quats) {
  at::Tensor q = quats / quats.norm(2, -1, true);
  at::Tensor w = q.select(1, 0), x = q.select(1, 1), y = q.select(1, 2), z = q.select(1, 3);
  return at::stack({1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)},
                   -1)
      .view({-1, 3, 3});
}

}  // namespace

at::Tensor nearest_neighbour_scales(const at::Tensor& points) {
  check_shape(points, "nearest_neighbour_scales: points", {-1, 3}, "[N, 3]");
  const int64_t n = points.size(0);
  at::Tensor p = points.to(at::kFloat).contiguous();
  if (n < 2) return at::full({n}, 0.01, at::kFloat);
  const int64_t k = std::min<int64_t>(3, n - 1);
  at::Tensor out = at::empty({n}, at::kFloat);
  for (int64_t s = 0; s < n; s += 2048) {
    const int64_t e = std::min(n, s + 2048);
    at::Tensor d2 = at::cdist(p.slice(0, s, e), p).pow(2);
    d2.index_put_({at::arange(e - s), at::arange(s, e)}, INFINITY);  // not its own neighbour
    at::Tensor nearest = std::get<0>(d2.topk(k, 1, /*largest=*/false));
    out.slice(0, s, e).copy_(nearest.mean(1).clamp_min(1e-7).sqrt());
  }
  return out;
}

Gaussians::Gaussians(GaussiansOptions options, uint64_t seed)
    : options_(std::move(options)), seed_(seed), strategy_(options_.densify) {
  check_options(options_);
  if (options_.init == "ply") {
    SDS_CHECK(!options_.ply.empty(), "gaussians: init \"ply\" needs a file in \"ply\"");
    set_tensors(read_gaussian_ply(options_.ply));
    return;
  }
  at::Generator gen = make_generator(derive_seed(seed, kInitStream));
  at::Tensor points = ball_points(options_.num_points, options_.init_radius, gen);
  // Grey: DreamGaussian's f_dc ~ U[0, 1) / 255, i.e. rgb of about 0.5.
  at::Tensor colors = at::rand({options_.num_points, 3}, gen, at::kFloat) / 255.0 * kShC0 + 0.5;
  GaussianTensors t;
  t.means = points;
  t.log_scales = nearest_neighbour_scales(points).log().unsqueeze(1).repeat({1, 3});
  t.quats = at::zeros({options_.num_points, 4}, at::kFloat);
  t.quats.select(1, 0).fill_(1.0);
  t.opacity_logits = at::full({options_.num_points}, logit(options_.init_opacity), at::kFloat);
  t.sh = ((colors - 0.5) / kShC0).unsqueeze(1);
  set_tensors(t);
}

Gaussians::Gaussians(GaussiansOptions options, const GaussianTensors& tensors, uint64_t seed)
    : options_(std::move(options)), seed_(seed), strategy_(options_.densify) {
  check_options(options_);
  set_tensors(tensors);
}

std::unique_ptr<Gaussians> Gaussians::from_points(GaussiansOptions options,
                                                  const at::Tensor& points,
                                                  const at::Tensor& colors, uint64_t seed) {
  check_shape(points, "gaussians from_points: points", {-1, 3}, "[N, 3]");
  const int64_t n = points.size(0);
  check_shape(colors, "gaussians from_points: colors", {n, 3}, "[N, 3] (N from points)");
  SDS_CHECK(at::isfinite(points).all().item<bool>(), "gaussians from_points: non-finite points");
  SDS_CHECK(colors.min().item<double>() >= 0 && colors.max().item<double>() <= 1,
            "gaussians from_points: expected colours in [0, 1]");
  GaussianTensors t;
  t.means = points.to(at::kFloat);
  t.log_scales = nearest_neighbour_scales(t.means).log().unsqueeze(1).repeat({1, 3});
  t.quats = at::zeros({n, 4}, at::kFloat);
  t.quats.select(1, 0).fill_(1.0);
  t.opacity_logits = at::full({n}, logit(options.init_opacity), at::kFloat);
  t.sh = ((colors.to(at::kFloat) - 0.5) / kShC0).unsqueeze(1);
  return std::make_unique<Gaussians>(std::move(options), t, seed);
}

void Gaussians::set_tensors(const GaussianTensors& t) {
  const int64_t n = t.size();
  check_shape(t.means, "gaussians: means", {-1, 3}, "[N, 3]");
  check_shape(t.log_scales, "gaussians: log_scales", {n, 3}, "[N, 3]");
  check_shape(t.quats, "gaussians: quats", {n, 4}, "[N, 4]");
  check_shape(t.opacity_logits, "gaussians: opacity_logits", {n}, "[N]");
  check_shape(t.sh, "gaussians: sh", {n, -1, 3}, "[N, K, 3]");
  for (const at::Tensor* x : {&t.means, &t.log_scales, &t.quats, &t.opacity_logits, &t.sh}) {
    check_finite(*x, "gaussians: parameters");
  }
  const int64_t k = (options_.sh_degree + 1) * (options_.sh_degree + 1);
  at::Tensor sh = t.sh.to(at::kFloat);
  if (sh.size(1) < k) {
    sh = at::cat({sh, at::zeros({n, k - sh.size(1), 3}, sh.options())}, 1);
  }
  auto leaf = [](const at::Tensor& x) {
    return x.detach().to(at::kFloat).contiguous().clone().set_requires_grad(true);
  };
  params_.means = leaf(t.means);
  params_.log_scales = leaf(t.log_scales);
  params_.quats = leaf(t.quats);
  params_.opacity_logits = leaf(t.opacity_logits);
  params_.sh0 = leaf(sh.slice(1, 0, 1));
  params_.shN = k > 1 ? leaf(sh.slice(1, 1, k)) : at::Tensor();
  const auto stats_options = params_.means.options().dtype(at::kFloat);
  strategy_.grad2d = at::zeros({n}, stats_options);
  strategy_.count = at::zeros({n}, stats_options);
  strategy_.radii2d = at::zeros({n}, stats_options);
}

void Gaussians::to(const at::Device& device) {
  check_device_usable(device, "gaussians");
  for (auto& [name, p] : params_.all()) {
    if (p->defined()) *p = p->detach().to(device).set_requires_grad(true);
  }
  strategy_.grad2d = strategy_.grad2d.to(device);
  strategy_.count = strategy_.count.to(device);
  strategy_.radii2d = strategy_.radii2d.to(device);
}

std::unique_ptr<Representation> Gaussians::from_config(ConfigReader& c,
                                                       const BuildContext& context) {
  GaussiansOptions o;
  o.init = c.get("init", o.init);
  o.num_points = c.get("num_points", o.num_points);
  o.init_radius = c.get("init_radius", o.init_radius);
  o.init_opacity = c.get("init_opacity", o.init_opacity);
  o.ply = c.get("ply", o.ply);
  o.sh_degree = c.get("sh_degree", o.sh_degree);
  o.sh_degree_every = c.get("sh_degree_every", o.sh_degree_every);
  o.antialiased = c.get("antialiased", o.antialiased);
  o.eps2d = c.get("eps2d", o.eps2d);
  o.means_lr = c.get("means_lr", o.means_lr);
  o.means_lr_final = c.get("means_lr_final", o.means_lr_final);
  o.means_lr_steps = c.get("means_lr_steps", o.means_lr_steps);
  o.sh0_lr = c.get("sh0_lr", o.sh0_lr);
  o.shN_lr = c.get("shN_lr", o.shN_lr);
  o.opacity_lr = c.get("opacity_lr", o.opacity_lr);
  o.scale_lr = c.get("scale_lr", o.scale_lr);
  o.quat_lr = c.get("quat_lr", o.quat_lr);
  o.mesh_iso = c.get("mesh_iso", o.mesh_iso);
  o.mesh_resolution = c.get("mesh_resolution", o.mesh_resolution);
  if (c.has("densify")) {
    ConfigReader d(c.raw("densify"), c.where() + ".densify");
    o.densify = DensifyOptions::from_config(d);
  }
  auto gaussians = std::make_unique<Gaussians>(o, context.seed);
  gaussians->to(context.device);
  return gaussians;
}

RenderOutput Gaussians::render(const CameraBatch& cameras, const RenderOptions& options) {
  const int64_t b = cameras.size(), h = cameras.height(), w = cameras.width();
  const at::Device device = params_.means.device();
  const at::Tensor viewmats = to_device(cameras.viewmats(), device);
  const at::Tensor ks = to_device(cameras.Ks(), device);
  at::Tensor bg = to_device(at::tensor({options.background[0], options.background[1],
                                        options.background[2]},
                                       at::kFloat),
                            device)
                      .unsqueeze(0)
                      .expand({b, 3})
                      .contiguous();
  at::Tensor sh = params_.shN.defined() ? at::cat({params_.sh0, params_.shN}, 1) : params_.sh0;
  ops::RasterizeOptions ro;
  ro.sh_degree = active_degree_;
  ro.projection.eps2d = options_.eps2d;
  ro.projection.antialiased = options_.antialiased;
  ops::RasterizeResult out =
      ops::rasterize(params_.means, params_.quats, params_.log_scales.exp(),
                     at::sigmoid(params_.opacity_logits), sh, viewmats, ks, w, h, bg, ro);
  if (at::GradMode::is_enabled()) strategy_.step_pre_backward(out.meta);
  // Camera z to distance along the ray: |(x/z, y/z, 1)| per pixel.
  auto intrinsic = [&](int64_t row, int64_t col) {
    return ks.select(1, row).select(1, col).view({b, 1, 1});
  };
  const auto pixel_options = at::TensorOptions(at::kFloat).device(device);
  at::Tensor u = (at::arange(w, pixel_options) + 0.5).view({1, 1, w});
  at::Tensor v = (at::arange(h, pixel_options) + 0.5).view({1, h, 1});
  at::Tensor x = (u - intrinsic(0, 2)) / intrinsic(0, 0);
  at::Tensor y = (v - intrinsic(1, 2)) / intrinsic(1, 1);
  at::Tensor stretch = at::sqrt(1 + x * x + y * y).unsqueeze(-1);  // [B, H, W, 1]
  RenderOutput r;
  r.rgb = out.rgb.permute({0, 3, 1, 2});
  r.alpha = out.alpha.permute({0, 3, 1, 2});
  // Like the other representations: sum of weight x distance (0 where empty).
  r.depth = (out.depth * stretch * out.alpha).permute({0, 3, 1, 2});
  return r;
}

std::vector<ParameterGroup> Gaussians::parameter_groups() {
  const GaussiansOptions& o = options_;
  ParameterGroup means("means", {params_.means}, o.means_lr);
  // 3DGS's log-linear position decay: exp((1 - u) ln lr0 + u ln lr1), u = min(step / T, 1).
  means.lr_at = [lr0 = o.means_lr, lr1 = o.means_lr_final, t = o.means_lr_steps](int64_t step) {
    const double u = std::min(1.0, static_cast<double>(step) / static_cast<double>(t));
    return std::exp((1 - u) * std::log(lr0) + u * std::log(lr1));
  };
  std::vector<ParameterGroup> groups = {means,
                                        {"log_scales", {params_.log_scales}, o.scale_lr},
                                        {"quats", {params_.quats}, o.quat_lr},
                                        {"opacity_logits", {params_.opacity_logits}, o.opacity_lr},
                                        {"sh0", {params_.sh0}, o.sh0_lr}};
  if (params_.shN.defined()) groups.push_back({"shN", {params_.shN}, o.shN_lr, {}});
  return groups;
}

std::vector<std::pair<std::string, at::Tensor>> Gaussians::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : params_.all()) out.emplace_back(name, *t);
  out.emplace_back("densify_grad2d", strategy_.grad2d);
  out.emplace_back("densify_count", strategy_.count);
  out.emplace_back("densify_radii2d", strategy_.radii2d);
  out.emplace_back("active_sh_degree", at::tensor(active_degree_, at::kLong));
  return out;
}

void Gaussians::restore_tensors(const std::map<std::string, at::Tensor>& stored,
                                OptimizerState& optimizer) {
  at::NoGradGuard no_grad;
  auto get = [&](const std::string& name) {
    auto it = stored.find(name);
    SDS_CHECK(it != stored.end(), "checkpoint has no tensor \"representation.{}\"", name);
    return it->second;
  };
  const int64_t n = get("means").size(0);
  for (auto& [name, p] : params_.all()) {
    at::Tensor s = get(name);
    SDS_CHECK(s.dim() == p->dim() && s.size(0) == n && s.sizes().slice(1) == p->sizes().slice(1),
              "tensor \"representation.{}\" has shape {} in the checkpoint, expected [{}, ...] "
              "like {}",
              name, shape_string(s.sizes()), n, shape_string(p->sizes()));
    at::Tensor next =
        s.to(params_.means.device(), at::kFloat).contiguous().clone().set_requires_grad(true);
    optimizer.replace(*p, next, {});
    *p = next;
  }
  const at::Device device = params_.means.device();
  strategy_.grad2d = get("densify_grad2d").to(device).clone();
  strategy_.count = get("densify_count").to(device).clone();
  strategy_.radii2d = get("densify_radii2d").to(device).clone();
  active_degree_ = get("active_sh_degree").item<int64_t>();
}

void Gaussians::after_step(int64_t step, OptimizerState& optimizer) {
  last_report_ = strategy_.step_post_backward(step, params_, optimizer, seed_);
  active_degree_ = std::min(options_.sh_degree, (step + 1) / options_.sh_degree_every);
}

GaussianTensors Gaussians::tensors() const {
  GaussianTensors t;
  t.means = params_.means.detach();
  t.log_scales = params_.log_scales.detach();
  t.quats = params_.quats.detach();
  t.opacity_logits = params_.opacity_logits.detach();
  t.sh = params_.shN.defined() ? at::cat({params_.sh0, params_.shN}, 1).detach()
                               : params_.sh0.detach();
  return t;
}

namespace {

// The kernels of the opacity-weighted density sum_i o_i exp(-d_i^2 / 2), all float64: the
// Gaussians above DreamGaussian's opacity floor, their covariances and their base rgb.
struct DensityKernels {
  at::Tensor means, covariances, weights, rgb, scales;
};

DensityKernels density_kernels(const GaussianTensors& device_tensors) {
  // The mesh and inside tests run on the host (export and evaluation, not a training step).
  GaussianTensors t;
  t.means = device_tensors.means.cpu();
  t.log_scales = device_tensors.log_scales.cpu();
  t.quats = device_tensors.quats.cpu();
  t.opacity_logits = device_tensors.opacity_logits.cpu();
  t.sh = device_tensors.sh.cpu();
  at::Tensor opacity = at::sigmoid(t.opacity_logits);
  at::Tensor keep = (opacity > 0.005).nonzero().squeeze(1);
  DensityKernels k;
  k.means = t.means.index_select(0, keep).to(at::kDouble);
  k.scales = t.log_scales.index_select(0, keep).exp().to(at::kDouble);
  at::Tensor m = rotations(t.quats.index_select(0, keep).to(at::kDouble)) * k.scales.unsqueeze(1);
  k.covariances = at::matmul(m, m.transpose(1, 2));
  k.weights = opacity.index_select(0, keep).to(at::kDouble);
  k.rgb = (kShC0 * t.sh.select(1, 0).index_select(0, keep) + 0.5).clamp(0, 1).to(at::kDouble);
  return k;
}

}  // namespace

Mesh Gaussians::extract_mesh() const {
  at::NoGradGuard no_grad;
  const DensityKernels k = density_kernels(tensors());
  SDS_CHECK(k.means.size(0) > 0, "gaussians: no Gaussian is opaque enough to mesh");
  // Bounds: the means plus three of the largest standard deviations, padded by a cell.
  const double pad = 3.0 * k.scales.max().item<double>();
  at::Tensor lo_t = std::get<0>(k.means.min(0)) - pad, hi_t = std::get<0>(k.means.max(0)) + pad;
  std::array<double, 3> lo{}, hi{};
  const double side = (hi_t - lo_t).max().item<double>();
  for (int a = 0; a < 3; ++a) {
    const double centre = 0.5 * (lo_t[a].item<double>() + hi_t[a].item<double>());
    lo[a] = centre - 0.55 * side;
    hi[a] = centre + 0.55 * side;
  }
  at::Tensor grid =
      splat_density_grid(k.means, k.covariances, k.weights, options_.mesh_resolution, lo, hi);
  Mesh mesh = marching_cubes(grid, options_.mesh_iso, lo, hi);
  SDS_CHECK(mesh.num_faces() > 0,
            "gaussians: the density never reaches mesh_iso = {} (its maximum is {})",
            options_.mesh_iso, grid.max().item<double>());
  auto [density, colors] = splat_field(mesh.vertices, k.means, k.covariances, k.weights, k.rgb);
  mesh.colors = colors.to(at::kFloat).clamp(0, 1);
  return mesh;
}

at::Tensor Gaussians::inside(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  check_shape(points, "gaussians inside: points", {-1, 3}, "[N, 3]");
  const DensityKernels k = density_kernels(tensors());
  if (k.means.size(0) == 0) return at::zeros({points.size(0)}, at::kBool);
  // No colour channels: only the density is needed.
  auto [density, colors] = splat_field(points.to(at::kCPU, at::kDouble), k.means, k.covariances, k.weights,
                                       k.rgb.slice(1, 0, 0));
  return (density.to(at::kDouble) >= options_.mesh_iso).to(points.device());
}

void Gaussians::export_file(const std::filesystem::path& path, const std::string& format) {
  if (format == "ply") {
    write_gaussian_ply(path, tensors());
  } else if (format == "obj") {
    write_obj(path, extract_mesh());
  } else if (format == "mesh_ply") {
    write_mesh_ply(path, extract_mesh());
  } else {
    fail("{}: gaussians export \"ply\", \"obj\" or \"mesh_ply\", not \"{}\"", path.string(), format);
  }
}

}  // namespace sds
