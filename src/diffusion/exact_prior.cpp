#include "sds/diffusion/exact_prior.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "diffusion/exact_prior_math.h"
#include "sds/camera/sampler.h"
#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"

namespace sds {

namespace {

const char* const kSectors[] = {"front", "side", "back", "overhead"};

// The change of a member's views (pixels in [-1, 1]) per unit edit of one width direction,
// `[B, D]`. Renders are linear in albedo and background, so this is one render of the member with
// the edit's albedo, a black background and nothing else.
at::Tensor width_row(const Concept& member, const WidthDirection& d, const CameraBatch& cameras,
                     const GroundTruthOptions& options) {
  Concept edit = member;
  edit.background = {0, 0, 0};
  at::Tensor dir = at::ones({1, 3, 1, 1}, at::kDouble);
  if (d.kind == "color") {
    for (size_t i = 0; i < edit.primitives.size(); ++i) {
      const bool tinted =
          d.primitives.empty() || std::find(d.primitives.begin(), d.primitives.end(),
                                            static_cast<int64_t>(i)) != d.primitives.end();
      edit.primitives[i].color =
          tinted ? std::array<double, 3>{1, 1, 1} : std::array<double, 3>{0, 0, 0};
    }
    dir = at::tensor(std::vector<double>(d.direction.begin(), d.direction.end()), at::kDouble)
              .view({1, 3, 1, 1});
  }
  const at::Tensor rgb = render_ground_truth(edit, cameras, options).rgb.to(at::kDouble);
  return (2 * d.std * rgb * dir).reshape({cameras.size(), -1});
}

// The width rows `[K, r, D]` of every grid component (ExactPriorComponents::width), in component
// order; undefined when no concept has width.
at::Tensor width_rows(const Scene& scene, const CameraBatch& cameras,
                      const GroundTruthOptions& options) {
  size_t rank = 0;
  for (const Concept& c : scene.concepts) rank = std::max(rank, c.width.size());
  if (rank == 0) return {};
  std::vector<at::Tensor> blocks;
  for (const Concept& c : scene.concepts) {
    for (const Concept& member : c.members()) {
      std::vector<at::Tensor> rows;
      for (const WidthDirection& d : c.width)
        rows.push_back(width_row(member, d, cameras, options));
      const int64_t d_size = 3 * cameras[0].height * cameras[0].width;
      for (size_t j = c.width.size(); j < rank; ++j) {
        rows.push_back(at::zeros({cameras.size(), d_size}, at::kDouble));
      }
      blocks.push_back(at::stack(rows, 1));
    }
  }
  return at::cat(blocks).contiguous();
}

}  // namespace

ExactPrior::ExactPrior(Scene scene, ExactPriorOptions options)
    : scene_(std::move(scene)),
      options_(std::move(options)),
      schedule_(NoiseSchedule::scaled_linear()) {
  const auto& o = options_;
  SDS_CHECK(o.sigma > 0 && o.sigma < 1, "exact prior: expected 0 < sigma < 1, got {}", o.sigma);
  SDS_CHECK(o.conditioning == "camera" || o.conditioning == "text" ||
                o.conditioning == "multiview" || o.conditioning == "reference",
            "exact prior: expected conditioning \"camera\", \"text\", \"multiview\" or "
            "\"reference\", got \"{}\"",
            o.conditioning);
  SDS_CHECK(o.views_per_group >= 1, "exact prior: expected views_per_group >= 1, got {}",
            o.views_per_group);
  if (o.conditioning == "multiview") {
    const double steps = 360.0 / o.grid_azimuth_step_deg;
    const double per_view = steps / static_cast<double>(o.views_per_group);
    SDS_CHECK(std::abs(steps - std::round(steps)) < 1e-9 &&
                  std::abs(per_view - std::round(per_view)) < 1e-9,
              "exact prior: multi-view groups of {} views need 360 / {} degrees to be a multiple "
              "of the grid azimuth step {}",
              o.views_per_group, o.views_per_group, o.grid_azimuth_step_deg);
  }
  SDS_CHECK(o.camera_kernel == "von_mises" || o.camera_kernel == "window",
            "exact prior: expected camera_kernel \"von_mises\" or \"window\", got \"{}\"",
            o.camera_kernel);
  SDS_CHECK(o.kappa >= 0, "exact prior: expected kappa >= 0, got {}", o.kappa);
  SDS_CHECK(o.window_deg > 0, "exact prior: expected window_deg > 0, got {}", o.window_deg);
  SDS_CHECK(!o.grid_elevations_deg.empty(), "exact prior: expected at least one grid elevation");
  SDS_CHECK(!scene_.concepts.empty(), "exact prior: expected a scene with concepts, got none");
}

std::unique_ptr<Prior> ExactPrior::from_config(ConfigReader& c, const BuildContext&) {
  ExactPriorOptions o;
  o.sigma = c.get("sigma", o.sigma);
  o.conditioning = c.get("conditioning", o.conditioning);
  o.views_per_group = c.get("views_per_group", o.views_per_group);
  o.camera_kernel = c.get("camera_kernel", o.camera_kernel);
  o.kappa = c.get("kappa", o.kappa);
  o.window_deg = c.get("window_deg", o.window_deg);
  o.grid_elevations_deg = c.get("grid_elevations_deg", o.grid_elevations_deg);
  o.grid_azimuth_step_deg = c.get("grid_azimuth_step_deg", o.grid_azimuth_step_deg);
  o.radius = c.get("radius", o.radius);
  o.fovy_deg = c.get("fovy_deg", o.fovy_deg);
  o.view_sectors.front_deg = c.get("front_threshold_deg", o.view_sectors.front_deg);
  o.view_sectors.back_deg = c.get("back_threshold_deg", o.view_sectors.back_deg);
  o.view_sectors.overhead_deg = c.get("overhead_threshold_deg", o.view_sectors.overhead_deg);
  o.ground_truth.supersample = c.get("supersample", o.ground_truth.supersample);
  const std::string scene_file = c.get<std::string>("scene", "");
  Scene scene = Scene::resolve(scene_file);
  return std::make_unique<ExactPrior>(std::move(scene), o);
}

std::pair<int64_t, std::string> ExactPrior::parse_prompt(const std::string& prompt) const {
  if (prompt.empty()) return {-1, ""};
  auto index_of = [&](const std::string& p) -> int64_t {
    for (size_t i = 0; i < scene_.concepts.size(); ++i) {
      if (scene_.concepts[i].prompt == p) return static_cast<int64_t>(i);
    }
    return -1;
  };
  if (int64_t i = index_of(prompt); i >= 0) return {i, ""};
  for (const char* sector : kSectors) {
    const std::string suffix = std::string(", ") + sector + " view";
    if (prompt.size() > suffix.size() &&
        prompt.compare(prompt.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string base = prompt.substr(0, prompt.size() - suffix.size());
      if (int64_t i = index_of(base); i >= 0) return {i, sector};
    }
  }
  scene_.find(prompt);  // throws the error that lists the known prompts
  fail("exact prior: unknown prompt \"{}\"", prompt);
}

const ExactPriorComponents& ExactPrior::components(int64_t height, int64_t width,
                                                   const at::Device& device) {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  const auto host_key = std::make_tuple(height, width, at::Device(at::kCPU).str());
  auto host = cache_.find(host_key);
  if (host == cache_.end()) {
    const auto& o = options_;
    std::vector<Camera> views = grid_views(o.grid_elevations_deg, o.grid_azimuth_step_deg, o.radius,
                                           o.fovy_deg, height, width);
    // K images of 3 H W float64 values: refuse sizes that cannot be held before rendering them.
    constexpr double kMaxBytes = 8.0 * (1 << 30);
    size_t members = 0, rank = 0;
    for (const Concept& c : scene_.concepts) {
      members += static_cast<size_t>(c.member_count());
      rank = std::max(rank, c.width.size());
    }
    const size_t count = views.size() * members;
    const double bytes = 8.0 * 3.0 * static_cast<double>(height) * static_cast<double>(width) *
                         static_cast<double>(count * (1 + rank));
    SDS_CHECK(bytes <= kMaxBytes,
              "exact prior: {} components of {} x {} images (with {} width directions) need "
              "{:.1f} GiB, more than the {:.0f} GiB they may take (a smaller image size or a "
              "coarser grid)",
              count, height, width, rank, bytes / (1 << 30), kMaxBytes / (1 << 30));
    CameraBatch batch(views);
    ExactPriorComponents comps;
    std::vector<at::Tensor> mus, dirs;
    for (size_t c = 0; c < scene_.concepts.size(); ++c) {
      const std::vector<Concept> members = scene_.concepts[c].members();
      for (size_t m = 0; m < members.size(); ++m) {
        GroundTruthImages gt = render_ground_truth(members[m], batch, o.ground_truth);
        mus.push_back((gt.rgb.to(at::kDouble) * 2 - 1).reshape({batch.size(), -1}));
        for (const auto& v : views) {
          comps.cameras.push_back(v);
          comps.concept_index.push_back(static_cast<int64_t>(c));
          comps.member_index.push_back(static_cast<int64_t>(m));
          dirs.push_back(v.direction());
        }
      }
    }
    comps.mu = at::cat(mus).contiguous();
    comps.mu_sq_norm = comps.mu.pow(2).sum(1);
    comps.directions = at::stack(dirs);
    comps.width = width_rows(scene_, batch, o.ground_truth);
    if (comps.width.defined()) {
      comps.width_gram = comps.width.matmul(comps.width.transpose(1, 2));
      comps.width_mu = comps.width.matmul(comps.mu.unsqueeze(2)).squeeze(2);
    }
    comps.base_count = comps.mu.size(0);
    if (ExactPriorMath::multiview(*this)) {
      comps.tuples = ExactPriorMath::build_tuples(*this, comps);
    }
    host = cache_.emplace(host_key, std::move(comps)).first;
  }
  if (device.is_cpu()) return host->second;
  check_device_usable(device, "exact prior");
  const auto key = std::make_tuple(height, width, device.str());
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  ExactPriorComponents copy = host->second;
  copy.mu = to_device(copy.mu, device);
  copy.mu_sq_norm = to_device(copy.mu_sq_norm, device);
  if (copy.width.defined()) {
    copy.width = to_device(copy.width, device);
    copy.width_gram = to_device(copy.width_gram, device);
    copy.width_mu = to_device(copy.width_mu, device);
  }
  return cache_.emplace(key, std::move(copy)).first->second;
}

at::Tensor ExactPriorMath::member_log_weights(const ExactPrior& prior,
                                              const ExactPriorComponents& comps,
                                              const at::Tensor& index) {
  const at::Tensor dense = index.contiguous();
  const auto* k = dense.const_data_ptr<int64_t>();
  std::vector<double> out(static_cast<size_t>(index.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    const Concept& c = prior.scene_.concepts[static_cast<size_t>(comps.concept_index[k[i]])];
    out[i] = -std::log(static_cast<double>(c.member_count()));
  }
  return at::tensor(out, at::kDouble);
}

at::Tensor ExactPriorMath::camera_log_weights(const ExactPrior& prior, const at::Tensor& cos_angle,
                                              const std::string& what) {
  if (prior.options_.camera_kernel == "von_mises") return prior.options_.kappa * cos_angle;
  const double cos_window = std::cos(prior.options_.window_deg * std::numbers::pi / 180.0);
  at::Tensor log_w =
      at::where(cos_angle >= cos_window - 1e-12, 0.0, -std::numeric_limits<double>::infinity());
  SDS_CHECK(at::isfinite(log_w).any().item<bool>(),
            "exact prior: no component within the {} degree window of {}",
            prior.options_.window_deg, what);
  return log_w;
}

void ExactPrior::set_personal_components(const at::Tensor& rgb, const CameraBatch& cameras,
                                         const std::string& prompt) {
  SDS_CHECK(!ExactPriorMath::multiview(*this),
            "exact prior: personal components are not available with multi-view "
            "conditioning");
  check_shape(rgb, "exact prior personal images", {-1, 3, -1, -1}, "[M, 3, H, W]");
  check_finite(rgb, "exact prior personal images");
  SDS_CHECK(cameras.size() == rgb.size(0),
            "exact prior: expected one camera per personal image ({}), got {}", rgb.size(0),
            cameras.size());
  auto [concept_index, sector] = parse_prompt(prompt);
  SDS_CHECK(concept_index >= 0,
            "exact prior: personal components need a concept's prompt, got "
            "the null prompt");
  components(rgb.size(2), rgb.size(3));  // the grid first
  std::lock_guard<std::mutex> lock(cache_mutex_);
  const at::Tensor mu = (rgb.detach().to(at::kCPU, at::kDouble) * 2 - 1).reshape({rgb.size(0), -1});
  for (auto& [key, comps] : cache_) {
    if (std::get<0>(key) != rgb.size(2) || std::get<1>(key) != rgb.size(3)) continue;
    ExactPriorMath::keep_grid_only(comps);
    comps.mu = at::cat({comps.mu, to_device(mu, comps.mu.device())}).contiguous();
    comps.mu_sq_norm = comps.mu.pow(2).sum(1);
    if (comps.width.defined()) {  // personal components are isotropic: zero width rows
      const int64_t m = mu.size(0), r = comps.width.size(1);
      comps.width = at::cat({comps.width, at::zeros({m, r, mu.size(1)}, comps.width.options())});
      comps.width_gram = at::cat({comps.width_gram, at::zeros({m, r, r}, comps.width.options())});
      comps.width_mu = at::cat({comps.width_mu, at::zeros({m, r}, comps.width.options())});
    }
    std::vector<at::Tensor> dirs{comps.directions};
    for (const Camera& cam : cameras.cameras()) {
      comps.cameras.push_back(cam);
      comps.concept_index.push_back(concept_index);
      comps.member_index.push_back(0);
      dirs.push_back(cam.direction().unsqueeze(0));
    }
    comps.directions = at::cat(dirs).contiguous();
  }
}

void ExactPriorMath::keep_grid_only(ExactPriorComponents& comps) {
  const int64_t base = comps.base_count;
  comps.mu = comps.mu.narrow(0, 0, base).contiguous();
  comps.mu_sq_norm = comps.mu_sq_norm.narrow(0, 0, base).contiguous();
  comps.directions = comps.directions.narrow(0, 0, base).contiguous();
  comps.cameras.resize(base);
  comps.concept_index.resize(base);
  comps.member_index.resize(base);
  if (comps.width.defined()) {
    comps.width = comps.width.narrow(0, 0, base).contiguous();
    comps.width_gram = comps.width_gram.narrow(0, 0, base).contiguous();
    comps.width_mu = comps.width_mu.narrow(0, 0, base).contiguous();
  }
}

std::shared_ptr<PersonalisablePrior> ExactPrior::make_personalised(const PersonalisationOptions&) {
  return std::make_shared<ExactPrior>(scene_, options_);
}

void ExactPrior::clear_personal_components() {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  for (auto& [size, comps] : cache_) ExactPriorMath::keep_grid_only(comps);
}

int64_t ExactPrior::personal_count(int64_t height, int64_t width) {
  const auto& comps = components(height, width);
  return comps.mu.size(0) - comps.base_count;
}

ExactPriorMath::Selection ExactPriorMath::select(const ExactPrior& prior,
                                                 const ExactPriorComponents& comps,
                                                 const Conditioning& cond, int64_t b) {
  if (prior.options_.conditioning == "reference") return select_reference(prior, comps, cond, b);
  const std::string& prompt = cond.prompt(b);
  auto [concept_index, sector] = prior.parse_prompt(prompt);
  std::vector<int64_t> index;
  for (size_t k = 0; k < comps.cameras.size(); ++k) {
    if (concept_index >= 0 && comps.concept_index[k] != concept_index) continue;
    if (!sector.empty() &&
        view_sector(comps.cameras[k].azimuth_deg(), comps.cameras[k].elevation_deg(),
                    prior.options_.view_sectors) != sector) {
      continue;
    }
    index.push_back(static_cast<int64_t>(k));
  }
  SDS_CHECK(!index.empty(),
            "exact prior: prompt \"{}\" selects no component (no grid view in the "
            "\"{}\" sector)",
            prompt, sector);
  Selection sel;
  sel.index = at::tensor(index, at::kLong);
  at::Tensor log_w = concept_index >= 0 ? at::zeros({sel.index.size(0)}, at::kDouble)
                                        : member_log_weights(prior, comps, sel.index);
  if (prior.options_.conditioning == "camera") {
    SDS_CHECK(cond.cameras.has_value(),
              "exact prior: camera conditioning needs the cameras of the images; got none "
              "(set Conditioning::cameras or use conditioning \"text\")");
    const Camera& cam = (*cond.cameras)[b];
    at::Tensor cos_angle = comps.directions.index_select(0, sel.index).matmul(cam.direction());
    log_w = log_w + camera_log_weights(prior, cos_angle,
                                       fmt::format("the camera at elevation {}, azimuth {}",
                                                   cam.elevation_deg(), cam.azimuth_deg()));
  }
  sel.log_pi = log_w - at::logsumexp(log_w, 0);
  return sel;
}

at::Tensor ExactPriorMath::noisy_distances(const at::Tensor& x, const at::Tensor& mu,
                                           const at::Tensor& mu_sq_norm, double a) {
  // ||x - sqrt(a) mu||^2 = ||x||^2 - 2 sqrt(a) <x, mu> + a ||mu||^2.
  return x.pow(2).sum() - 2 * std::sqrt(a) * mu.matmul(x) + a * mu_sq_norm;
}

at::Tensor ExactPriorMath::shrunk_mean(const ExactPrior& prior, const at::Tensor& m,
                                       const at::Tensor& x, double a) {
  const double s2 = prior.options_.sigma * prior.options_.sigma;
  return m + (s2 * std::sqrt(a) / noisy_variance(prior, a)) * (x - std::sqrt(a) * m);
}

at::Tensor ExactPriorMath::mixture_log_density(const ExactPrior& prior, const at::Tensor& logits,
                                               double a, int64_t d) {
  return at::logsumexp(logits, 0) -
         0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi * noisy_variance(prior, a));
}

at::Tensor ExactPriorMath::logits(const ExactPrior& prior, const ExactPriorComponents& comps,
                                  const Selection& sel, const at::Tensor& x_flat, double a) {
  at::Tensor dist = noisy_distances(x_flat, comps.mu.index_select(0, sel.index),
                                    comps.mu_sq_norm.index_select(0, sel.index), a);
  return sel.log_pi - dist / (2 * noisy_variance(prior, a));
}

ExactPriorMath::WidthTerms ExactPriorMath::width_terms(const ExactPrior& prior,
                                                       const ExactPriorComponents& comps,
                                                       const at::Tensor& index, const at::Tensor& x,
                                                       double a) {
  // Woodbury on C = v I + a B^T B: y^T C^-1 y = (|y|^2 - a z^T G^-1 z) / v and
  // log det C = (D - r) log v + log det G, with z = B y and G = v I_r + a B B^T.
  const double v = noisy_variance(prior, a);
  const at::Tensor rows = comps.width.index_select(0, index);  // [K, r, D]
  const int64_t k = rows.size(0), r = rows.size(1);
  at::Tensor z = rows.reshape({k * r, -1}).matmul(x).view({k, r}) -
                 std::sqrt(a) * comps.width_mu.index_select(0, index);
  at::Tensor g = a * comps.width_gram.index_select(0, index) +
                 v * at::eye(r, comps.width.options()).expand({k, r, r});
  at::Tensor chol = at::linalg_cholesky(g);
  WidthTerms out;
  out.solved = at::cholesky_solve(z.unsqueeze(2), chol).squeeze(2);
  const at::Tensor log_det = 2 * chol.diagonal(0, 1, 2).log().sum(1);
  out.logit = a * (z * out.solved).sum(1) / (2 * v) -
              0.5 * (log_det - static_cast<double>(r) * std::log(v));
  return out;
}

at::Tensor ExactPriorMath::width_mean(const ExactPrior& prior, const ExactPriorComponents& comps,
                                      const at::Tensor& index, const at::Tensor& weights,
                                      const at::Tensor& solved, double a) {
  // E[x0 | x_t, k] = mu_k + sqrt(a) Sigma_k C_k^-1 y_k; beyond the isotropic shrinkage this
  // leaves sqrt(a) (1 - a) / v B_k^T G_k^-1 z_k (using a (s^2 I + B B^T) = G - (1 - a) I).
  const at::Tensor rows = comps.width.index_select(0, index);
  const at::Tensor c = (weights.unsqueeze(1) * solved).reshape({-1});
  return (std::sqrt(a) * (1 - a) / noisy_variance(prior, a)) *
         c.matmul(rows.reshape({c.size(0), -1}));
}

void ExactPriorMath::check_inputs(const ExactPrior& prior, const at::Tensor& x_t,
                                  const at::Tensor& t, const Conditioning& cond) {
  check_shape(x_t, "exact prior x_t", {-1, 3, -1, -1}, "[B, 3, H, W]");
  check_floating(x_t, "exact prior x_t");
  check_shape(t, "exact prior t", {x_t.size(0)}, "[B]");
  check_finite(x_t, "exact prior x_t");
  const auto n = static_cast<int64_t>(cond.prompts.size());
  SDS_CHECK(n == 1 || n == x_t.size(0),
            "exact prior: expected 1 or {} prompts (one per image), got {}", x_t.size(0), n);
  if (multiview(prior)) {
    SDS_CHECK(x_t.size(0) % prior.options_.views_per_group == 0,
              "exact prior: multi-view conditioning denoises groups of {} views; got a batch of {}",
              prior.options_.views_per_group, x_t.size(0));
  }
  if (cond.cameras && prior.options_.conditioning != "text") {
    SDS_CHECK(cond.cameras->size() == x_t.size(0),
              "exact prior: expected {} cameras (one per image), got {}", x_t.size(0),
              cond.cameras->size());
  }
}

ExactPriorMath::Element ExactPriorMath::element(const ExactPrior& prior,
                                                const ExactPriorComponents& comps,
                                                const at::Tensor& x_t, const at::Tensor& t,
                                                const Conditioning& cond, int64_t b) {
  Element e;
  e.x = x_t[b].to(comps.mu.device(), at::kDouble).reshape({-1});  // differentiable for log_density
  e.alpha_bar = prior.schedule_.alpha_bar(t[b].item<int64_t>());  // t: host timesteps
  Selection sel = select(prior, comps, cond, b);  // on the host, from prompts and cameras
  sel.index = to_device(sel.index, comps.mu.device());
  sel.log_pi = to_device(sel.log_pi, comps.mu.device());
  e.index = sel.index;
  e.logits = logits(prior, comps, sel, e.x, e.alpha_bar);
  if (comps.width.defined()) {
    WidthTerms w = width_terms(prior, comps, e.index, e.x, e.alpha_bar);
    e.logits = e.logits + w.logit;
    e.solved = w.solved;
  }
  return e;
}

std::pair<at::Tensor, at::Tensor> ExactPrior::responsibilities(const at::Tensor& x_t,
                                                               const at::Tensor& t,
                                                               const Conditioning& cond,
                                                               int64_t b) {
  ExactPriorMath::check_inputs(*this, x_t, t, cond);
  const auto& comps = components(x_t.size(2), x_t.size(3), x_t.device());
  const at::Tensor t_host = t.cpu();  // the usual host timesteps: no copy
  if (ExactPriorMath::multiview(*this)) {
    const int64_t n = options_.views_per_group;
    ExactPriorMath::GroupElement e =
        ExactPriorMath::group_element(*this, comps, x_t.detach(), t_host, cond, b / n);
    return {at::softmax(e.logits, 0), e.tuples.select(1, b % n).contiguous()};
  }
  ExactPriorMath::Element e = ExactPriorMath::element(*this, comps, x_t.detach(), t_host, cond, b);
  return {at::softmax(e.logits, 0), e.index.cpu()};
}

at::Tensor ExactPrior::posterior_mean(const at::Tensor& x_t, const at::Tensor& t,
                                      const Conditioning& cond) {
  ExactPriorMath::check_inputs(*this, x_t, t, cond);
  const auto& comps = components(x_t.size(2), x_t.size(3), x_t.device());
  const at::Tensor t_host = t.cpu();  // the usual host timesteps: no copy
  std::vector<at::Tensor> out;
  if (ExactPriorMath::multiview(*this)) {
    for (int64_t g = 0; g < x_t.size(0) / options_.views_per_group; ++g) {
      out.push_back(ExactPriorMath::group_posterior_mean(
          *this, comps,
          ExactPriorMath::group_element(*this, comps, x_t.detach(), t_host, cond, g)));
    }
    return at::cat(out).view(x_t.sizes()).to(x_t.device(), x_t.scalar_type());
  }
  for (int64_t b = 0; b < x_t.size(0); ++b) {
    ExactPriorMath::Element e =
        ExactPriorMath::element(*this, comps, x_t.detach(), t_host, cond, b);
    const at::Tensor r = at::softmax(e.logits, 0);
    at::Tensor mean = ExactPriorMath::shrunk_mean(
        *this, r.matmul(comps.mu.index_select(0, e.index)), e.x, e.alpha_bar);
    if (e.solved.defined()) {
      mean = mean + ExactPriorMath::width_mean(*this, comps, e.index, r, e.solved, e.alpha_bar);
    }
    out.push_back(mean);
  }
  return at::stack(out).view(x_t.sizes()).to(x_t.device(), x_t.scalar_type());
}

at::Tensor ExactPrior::predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                                     const Conditioning& cond) {
  at::Tensor x0 = posterior_mean(x_t, t, cond);
  at::Tensor a = schedule_.broadcast_alpha_bar(t, x_t);
  return (x_t.detach() - a.sqrt() * x0) / (1 - a).sqrt();
}

at::Tensor ExactPrior::log_density(const at::Tensor& x_t, const at::Tensor& t,
                                   const Conditioning& cond) {
  ExactPriorMath::check_inputs(*this, x_t, t, cond);
  const auto& comps = components(x_t.size(2), x_t.size(3), x_t.device());
  const at::Tensor t_host = t.cpu();  // the usual host timesteps: no copy
  std::vector<at::Tensor> out;
  if (ExactPriorMath::multiview(*this)) {
    for (int64_t g = 0; g < x_t.size(0) / options_.views_per_group; ++g) {
      ExactPriorMath::GroupElement e =
          ExactPriorMath::group_element(*this, comps, x_t, t_host, cond, g);
      out.push_back(ExactPriorMath::mixture_log_density(*this, e.logits, e.alpha_bar, e.x.numel()));
    }
    return at::stack(out);
  }
  for (int64_t b = 0; b < x_t.size(0); ++b) {
    ExactPriorMath::Element e = ExactPriorMath::element(*this, comps, x_t, t_host, cond, b);
    out.push_back(ExactPriorMath::mixture_log_density(*this, e.logits, e.alpha_bar, e.x.numel()));
  }
  return at::stack(out);
}

GroundTruthImages ExactPrior::ground_truth(const std::string& prompt, const CameraBatch& cameras,
                                           int64_t member) const {
  auto [concept_index, sector] = parse_prompt(prompt);
  SDS_CHECK(concept_index >= 0,
            "exact prior: ground truth needs a concept's prompt, got the "
            "null prompt");
  const Concept& c = scene_.concepts[concept_index];
  SDS_CHECK(member >= 0 && member < c.member_count(),
            "exact prior: \"{}\" has {} member(s); expected a member index in [0, {}), got {}",
            c.prompt, c.member_count(), c.member_count(), member);
  return render_ground_truth(c.members()[member], cameras, options_.ground_truth);
}

}  // namespace sds
