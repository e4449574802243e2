#include "sds/repr/gaussian_strategy.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

namespace {

constexpr uint64_t kSplitStream = 0x53504c4954ULL;

// Every parameter becomes rows(p) (a new leaf); its moments become rows(m) with `appended` zero
// rows at the end (new Gaussians start with no history).
template <class Rows>
void rebuild(GaussianParameters& params, OptimizerState& optimizer, const Rows& rows) {
  at::NoGradGuard no_grad;
  for (auto& [name, p] : params.all()) {
    at::Tensor next = rows(*p, false).contiguous().set_requires_grad(true);
    AdamMoments m = optimizer.moments(*p);
    AdamMoments nm;
    if (m.exp_avg.defined()) nm = {rows(m.exp_avg, true).contiguous(), rows(m.exp_avg_sq, true).contiguous()};
    optimizer.replace(*p, next, nm);
    *p = next;
  }
}

at::Tensor zero_rows(const at::Tensor& like, int64_t n) {
  std::vector<int64_t> shape = like.sizes().vec();
  shape[0] = n;
  return at::zeros(shape, like.options());
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor*>> GaussianParameters::all() {
  std::vector<std::pair<std::string, at::Tensor*>> out = {{"means", &means},
                                                          {"log_scales", &log_scales},
                                                          {"quats", &quats},
                                                          {"opacity_logits", &opacity_logits},
                                                          {"sh0", &sh0}};
  if (shN.defined()) out.emplace_back("shN", &shN);
  return out;
}

void duplicate_gaussians(GaussianParameters& params, OptimizerState& optimizer,
                         const at::Tensor& rows) {
  const int64_t n = rows.numel();
  if (n == 0) return;
  rebuild(params, optimizer, [&](const at::Tensor& t, bool moment) {
    return at::cat({t, moment ? zero_rows(t, n) : t.index_select(0, rows)});
  });
}

void split_gaussians(GaussianParameters& params, OptimizerState& optimizer, const at::Tensor& rows,
                     int64_t children, at::Generator& generator, bool revised_opacity) {
  const int64_t n = rows.numel();
  if (n == 0) return;
  SDS_CHECK(children >= 2, "split_gaussians: expected >= 2 children, got {}", children);
  at::NoGradGuard no_grad;
  const int64_t total = params.size();
  at::Tensor keep = at::ones({total}, params.means.options().dtype(at::kBool));
  keep.index_fill_(0, rows, false);
  at::Tensor kept = keep.nonzero().squeeze(1);
  // Children: means + R(q) (s * eps), scales shrunk by 0.8 x children (1.6 for 2, as 3DGS).
  at::Tensor scales = params.log_scales.index_select(0, rows).exp();  // [n, 3]
  at::Tensor q = params.quats.index_select(0, rows);
  q = q / q.norm(2, -1, true);
  at::Tensor w = q.select(1, 0), x = q.select(1, 1), y = q.select(1, 2), z = q.select(1, 3);
  at::Tensor rot = at::stack({1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                              2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                              2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)},
                             -1)
                       .view({n, 3, 3});
  at::Tensor eps = at::randn({children, n, 3}, generator, params.means.options());
  at::Tensor offsets = at::einsum("nij,cnj->cni", {rot, scales.unsqueeze(0) * eps});
  at::Tensor child_means = (params.means.index_select(0, rows).unsqueeze(0) + offsets).reshape({-1, 3});
  at::Tensor child_scales =
      (scales / (0.8 * static_cast<double>(children))).log().repeat({children, 1});
  at::Tensor child_opacity = params.opacity_logits.index_select(0, rows).repeat({children});
  if (revised_opacity) {
    at::Tensor o = at::sigmoid(child_opacity);
    child_opacity = at::logit(1 - at::sqrt(1 - o), 1e-6);
  }
  rebuild(params, optimizer, [&](const at::Tensor& t, bool moment) {
    at::Tensor base = t.index_select(0, kept);
    if (moment) return at::cat({base, zero_rows(t, children * n)});
    at::Tensor extra;
    if (t.is_same(params.means)) {
      extra = child_means;
    } else if (t.is_same(params.log_scales)) {
      extra = child_scales;
    } else if (t.is_same(params.opacity_logits)) {
      extra = child_opacity;
    } else {
      std::vector<int64_t> reps(t.dim(), 1);
      reps[0] = children;
      extra = t.index_select(0, rows).repeat(reps);
    }
    return at::cat({base, extra.to(t.scalar_type())});
  });
}

void remove_gaussians(GaussianParameters& params, OptimizerState& optimizer,
                      const at::Tensor& keep) {
  SDS_CHECK(keep.dim() == 1 && keep.size(0) == params.size() && keep.scalar_type() == at::kBool,
            "remove_gaussians: expected a bool mask of {} rows", params.size());
  at::Tensor rows = keep.nonzero().squeeze(1);
  if (rows.numel() == params.size()) return;
  rebuild(params, optimizer,
          [&](const at::Tensor& t, bool) { return t.index_select(0, rows); });
}

void reset_opacities(GaussianParameters& params, OptimizerState& optimizer, double max_opacity) {
  at::NoGradGuard no_grad;
  at::Tensor next = at::minimum(params.opacity_logits,
                                at::full({}, std::log(max_opacity / (1 - max_opacity)),
                                         params.opacity_logits.options()))
                        .contiguous()
                        .set_requires_grad(true);
  AdamMoments m = optimizer.moments(params.opacity_logits);
  AdamMoments zeros;
  if (m.exp_avg.defined()) zeros = {at::zeros_like(m.exp_avg), at::zeros_like(m.exp_avg_sq)};
  optimizer.replace(params.opacity_logits, next, zeros);
  params.opacity_logits = next;
}

DensifyOptions DensifyOptions::preset(const std::string& name) {
  DensifyOptions o;  // gsplat DefaultStrategy = 3DGS
  if (name == "3dgs") return o;
  if (name == "dreamgaussian") {
    // DreamGaussian image.yaml + the constants of its densify_and_prune call (extent 4):
    // threshold 0.01, clone/split at 0.01 x 4, prune o < 0.01 or max scale > 0.1 x 4 (always),
    // refine every 100 steps from 100; opacity reset at 700 never happens in 500 steps. Its
    // max_screen_size = 1 px is inert only because of the screen-size bug; it stays off here.
    o.grow_grad2d = 0.01;
    o.grow_scale3d = 0.01;
    o.scene_scale = 4.0;
    o.prune_opacity = 0.01;
    o.prune_scale3d = 0.1;
    o.prune_scale3d_after = 0;
    o.refine_start = 100;
    o.refine_stop = 3000;
    o.refine_every = 100;
    o.reset_every = 0;
    return o;
  }
  fail("densify.preset: expected \"3dgs\" or \"dreamgaussian\", got \"{}\"", name);
}

DensifyOptions DensifyOptions::from_config(ConfigReader& c) {
  DensifyOptions o = preset(c.get<std::string>("preset", "3dgs"));
  o.enabled = c.get("enabled", o.enabled);
  o.grow_grad2d = c.get("grow_grad2d", o.grow_grad2d);
  o.grow_scale3d = c.get("grow_scale3d", o.grow_scale3d);
  o.grow_scale2d = c.get("grow_scale2d", o.grow_scale2d);
  o.prune_opacity = c.get("prune_opacity", o.prune_opacity);
  o.prune_scale3d = c.get("prune_scale3d", o.prune_scale3d);
  o.prune_scale3d_after = c.get("prune_scale3d_after", o.prune_scale3d_after);
  o.prune_scale2d = c.get("prune_scale2d", o.prune_scale2d);
  o.refine_scale2d_stop = c.get("refine_scale2d_stop", o.refine_scale2d_stop);
  o.scene_scale = c.get("scene_scale", o.scene_scale);
  o.refine_start = c.get("refine_start", o.refine_start);
  o.refine_stop = c.get("refine_stop", o.refine_stop);
  o.refine_every = c.get("refine_every", o.refine_every);
  o.reset_every = c.get("reset_every", o.reset_every);
  o.max_gaussians = c.get("max_gaussians", o.max_gaussians);
  o.revised_opacity = c.get("revised_opacity", o.revised_opacity);
  c.finish();
  SDS_CHECK(o.grow_grad2d > 0 && o.grow_scale3d > 0 && o.scene_scale > 0 && o.prune_scale3d > 0,
            "{}: expected positive thresholds and scene_scale", c.where());
  SDS_CHECK(o.prune_opacity >= 0 && o.prune_opacity < 0.5,
            "{}.prune_opacity: expected a value in [0, 0.5), got {}", c.where(), o.prune_opacity);
  SDS_CHECK(o.refine_every >= 1 && o.refine_start >= 0 && o.refine_stop >= o.refine_start,
            "{}: expected refine_every >= 1 and 0 <= refine_start <= refine_stop", c.where());
  SDS_CHECK(o.reset_every >= 0 && o.max_gaussians >= 1 && o.max_gaussians <= kMaxGaussians,
            "{}: expected reset_every >= 0 and max_gaussians in 1..{}, got {} and {}", c.where(),
            kMaxGaussians, o.reset_every, o.max_gaussians);
  return o;
}

DensificationStrategy::DensificationStrategy(DensifyOptions options) : options_(options) {}

void DensificationStrategy::step_pre_backward(ops::RasterizeMeta& meta) {
  if (!options_.enabled || !meta.means2d.requires_grad()) return;
  meta.means2d.retain_grad();
  pending_.push_back(meta);
}

void DensificationStrategy::accumulate(const ops::RasterizeMeta& meta, int64_t n) {
  at::Tensor g = meta.means2d.grad();
  if (!g.defined() || meta.means2d.size(1) != n) return;
  const int64_t C = g.size(0);
  at::NoGradGuard no_grad;
  // gsplat's normalisation: NDC units, undoing the loss's mean over cameras.
  const at::Tensor gf = g.to(at::kFloat);
  at::Tensor norm = at::stack({gf.select(-1, 0) * (0.5 * meta.width * C),
                               gf.select(-1, 1) * (0.5 * meta.height * C)},
                              -1)
                        .norm(2, -1);  // [C, N]
  at::Tensor visible = (meta.radii > 0).all(-1);                            // [C, N]
  grad2d += (norm * visible).sum(0);
  count += visible.sum(0).to(at::kFloat);
  at::Tensor r = meta.radii.amax(-1).to(at::kFloat) /
                 static_cast<float>(std::max(meta.width, meta.height));
  radii2d = at::maximum(radii2d, (r * visible).amax(0));
}

DensifyReport DensificationStrategy::step_post_backward(int64_t step, GaussianParameters& params,
                                                        OptimizerState& optimizer, uint64_t seed) {
  DensifyReport report;
  const int64_t n = params.size();
  const auto stats_options = params.means.options().dtype(at::kFloat);
  if (!grad2d.defined() || grad2d.size(0) != n) {
    grad2d = at::zeros({n}, stats_options);
    count = at::zeros({n}, stats_options);
    radii2d = at::zeros({n}, stats_options);
  }
  std::vector<ops::RasterizeMeta> metas = std::move(pending_);
  pending_.clear();
  if (!options_.enabled || step >= options_.refine_stop) return report;
  for (const auto& m : metas) accumulate(m, n);
  const DensifyOptions& o = options_;
  if (step > o.refine_start && step % o.refine_every == 0) {
    at::NoGradGuard no_grad;
    at::Tensor mean_grad = grad2d / count.clamp_min(1.0);
    at::Tensor max_scale = std::get<0>(params.log_scales.detach().exp().max(1)).to(at::kFloat);
    at::Tensor high = mean_grad > o.grow_grad2d;
    at::Tensor small = max_scale <= o.grow_scale3d * o.scene_scale;
    at::Tensor dup = high & small;
    at::Tensor split = high & ~small;
    if (step < o.refine_scale2d_stop) split = split | (high & (radii2d > o.grow_scale2d));
    // Growth stops at max_gaussians: the highest gradients grow first.
    const int64_t room = std::max<int64_t>(0, o.max_gaussians - n);
    at::Tensor cand = (dup | split).nonzero().squeeze(1);
    if (cand.numel() > room) {
      at::Tensor order = at::argsort(mean_grad.index_select(0, cand), /*stable=*/true, 0, true);
      at::Tensor chosen = at::zeros({n}, stats_options.dtype(at::kBool));
      chosen.index_fill_(0, cand.index_select(0, order.slice(0, 0, room)), true);
      dup = dup & chosen;
      split = split & chosen;
    }
    at::Tensor dup_rows = dup.nonzero().squeeze(1);
    at::Tensor split_rows = split.nonzero().squeeze(1);
    report.duplicated = dup_rows.numel();
    report.split = split_rows.numel();
    // Statistics ride along so that the prune below sees them for every row (the fix).
    at::Tensor stats = at::stack({grad2d, count, radii2d}, 1);
    duplicate_gaussians(params, optimizer, dup_rows);
    stats = at::cat({stats, stats.index_select(0, dup_rows)});
    at::Generator gen = make_generator(derive_seed(seed, kSplitStream, step), params.means.device());
    const int64_t before_split = params.size();
    split_gaussians(params, optimizer, split_rows, 2, gen, o.revised_opacity);
    {
      at::Tensor keep = at::ones({before_split}, stats_options.dtype(at::kBool));
      keep.index_fill_(0, split_rows, false);
      at::Tensor kept = stats.index_select(0, keep.nonzero().squeeze(1));
      stats = at::cat({kept, stats.index_select(0, split_rows).repeat({2, 1})});
    }
    // Prune faint, oversized and (when on) screen-filling Gaussians.
    at::Tensor opacity = at::sigmoid(params.opacity_logits.detach()).to(at::kFloat);
    at::Tensor prune = opacity < o.prune_opacity;
    if (step > o.prune_scale3d_after) {
      at::Tensor ms = std::get<0>(params.log_scales.detach().exp().max(1)).to(at::kFloat);
      prune = prune | (ms > o.prune_scale3d * o.scene_scale);
    }
    if (step < o.refine_scale2d_stop) prune = prune | (stats.select(1, 2) > o.prune_scale2d);
    report.pruned = prune.sum().item<int64_t>();
    remove_gaussians(params, optimizer, ~prune);
    const int64_t m = params.size();
    grad2d = at::zeros({m}, stats_options);
    count = at::zeros({m}, stats_options);
    radii2d = at::zeros({m}, stats_options);
  }
  if (o.reset_every > 0 && step > 0 && step % o.reset_every == 0) {
    reset_opacities(params, optimizer, 2.0 * o.prune_opacity);
    report.opacity_reset = true;
  }
  return report;
}

}  // namespace sds
