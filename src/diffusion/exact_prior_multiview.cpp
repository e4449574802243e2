// Multi-view conditioning of the exact prior (MVDream): x0 is a group of N views 360 / N degrees
// apart, and each mixture component is a tuple of N grid views of one concept at one elevation,
// N(x0; [mu_k1 .. mu_kN], s^2 I). The views of a group therefore share one set of
// responsibilities and are denoised consistently. A family's members each have their own tuples.

#include <cmath>

#include "diffusion/exact_prior_math.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/diffusion/exact_prior.h"

namespace sds {

at::Tensor ExactPriorMath::build_tuples(const ExactPrior& prior,
                                        const ExactPriorComponents& comps) {
  const auto& o = prior.options_;
  const auto azimuths = static_cast<int64_t>(std::llround(360.0 / o.grid_azimuth_step_deg));
  const auto elevations = static_cast<int64_t>(o.grid_elevations_deg.size());
  const int64_t n = o.views_per_group;
  const int64_t offset = azimuths / n;  // grid steps between neighbouring views of a tuple
  const int64_t per_member = azimuths * elevations;
  int64_t members = 0;
  for (const Concept& c : prior.scene_.concepts) members += c.member_count();
  SDS_CHECK(static_cast<int64_t>(comps.cameras.size()) == per_member * members,
            "exact prior: internal error: unexpected component grid for multi-view tuples");
  // The grid components are ordered by concept, member, elevation and azimuth.
  std::vector<int64_t> index;
  for (int64_t m = 0; m < members; ++m) {
    for (int64_t e = 0; e < elevations; ++e) {
      for (int64_t a = 0; a < azimuths; ++a) {
        for (int64_t j = 0; j < n; ++j) {
          index.push_back(m * per_member + e * azimuths + (a + j * offset) % azimuths);
        }
      }
    }
  }
  return at::tensor(index, at::kLong).view({-1, n});
}

ExactPriorMath::GroupElement ExactPriorMath::group_element(const ExactPrior& prior,
                                                           const ExactPriorComponents& comps,
                                                           const at::Tensor& x_t,
                                                           const at::Tensor& t,
                                                           const Conditioning& cond, int64_t g) {
  const int64_t n = prior.options_.views_per_group;
  const int64_t first = g * n;
  const std::string& prompt = cond.prompt(first);
  const int64_t step = t[first].item<int64_t>();
  for (int64_t j = 1; j < n; ++j) {
    SDS_CHECK(cond.prompt(first + j) == prompt,
              "exact prior: a multi-view group shares one prompt; group {} has \"{}\" and \"{}\"",
              g, prompt, cond.prompt(first + j));
    SDS_CHECK(t[first + j].item<int64_t>() == step,
              "exact prior: a multi-view group shares one timestep; group {} has {} and {} (use a "
              "timestep schedule with \"shared\": true)",
              g, step, t[first + j].item<int64_t>());
  }
  auto [concept_index, sector] = prior.parse_prompt(prompt);
  SDS_CHECK(sector.empty(),
            "exact prior: multi-view conditioning takes no view suffix; got \"{}\" (turn "
            "view_dependent_prompting off)",
            prompt);
  SDS_CHECK(cond.cameras.has_value(),
            "exact prior: multi-view conditioning needs the cameras of the images; got none");

  GroupElement e;
  e.x = x_t.narrow(0, first, n).to(comps.mu.device(), at::kDouble).reshape({n, -1});
  e.alpha_bar = prior.schedule_.alpha_bar(step);
  at::Tensor tuples = comps.tuples;
  if (concept_index >= 0) {
    // The tuples of every member of the prompt's concept (contiguous, as the components are).
    const at::Tensor first_views = tuples.select(1, 0).contiguous();
    const auto* first_view = first_views.const_data_ptr<int64_t>();
    int64_t begin = -1, end = -1;
    for (int64_t i = 0; i < tuples.size(0); ++i) {
      if (comps.concept_index[first_view[i]] != concept_index) continue;
      if (begin < 0) begin = i;
      end = i + 1;
    }
    tuples = tuples.narrow(0, begin, end - begin);
  }
  e.tuples = tuples;

  // Camera kernel: the mean over the group of cos(angle between view j and the tuple's view j),
  // which is the single-view kernel when the group is a rigid rotation of the tuple.
  at::Tensor cos_angle = at::zeros({tuples.size(0)}, at::kDouble);
  for (int64_t j = 0; j < n; ++j) {
    at::Tensor dirs = comps.directions.index_select(0, tuples.select(1, j));
    cos_angle += dirs.matmul((*cond.cameras)[first + j].direction()) / static_cast<double>(n);
  }
  at::Tensor log_w = camera_log_weights(prior, cos_angle, fmt::format("multi-view group {}", g));
  if (concept_index < 0) log_w = log_w + member_log_weights(prior, comps, tuples.select(1, 0));
  at::Tensor log_pi = to_device(log_w - at::logsumexp(log_w, 0), comps.mu.device());

  // Joint log-likelihood: the sum over views of -||x_j - sqrt(a) mu_kj||^2 / (2 v).
  // With width, each view's component adds its own low-rank term (the views' deviations are
  // independent given the tuple).
  at::Tensor dist = at::zeros({tuples.size(0)}, comps.mu.options());
  at::Tensor width_logit = at::zeros({tuples.size(0)}, comps.mu.options());
  for (int64_t j = 0; j < n; ++j) {
    at::Tensor all = noisy_distances(e.x[j], comps.mu, comps.mu_sq_norm, e.alpha_bar);
    const at::Tensor view = to_device(tuples.select(1, j), all.device());
    dist = dist + all.index_select(0, view);
    if (comps.width.defined()) {
      WidthTerms w = width_terms(prior, comps, view, e.x[j], e.alpha_bar);
      width_logit = width_logit + w.logit;
      e.solved.push_back(w.solved);
    }
  }
  e.logits = log_pi - dist / (2 * noisy_variance(prior, e.alpha_bar)) + width_logit;
  return e;
}

at::Tensor ExactPriorMath::group_posterior_mean(const ExactPrior& prior,
                                                const ExactPriorComponents& comps,
                                                const GroupElement& e) {
  at::Tensor r = at::softmax(e.logits, 0);
  std::vector<at::Tensor> out;
  for (int64_t j = 0; j < e.tuples.size(1); ++j) {
    // The weight of each grid component in view j: the summed responsibility of its tuples.
    const at::Tensor view = to_device(e.tuples.select(1, j), r.device());
    at::Tensor w = at::zeros({comps.mu.size(0)}, comps.mu.options()).index_add_(0, view, r);
    at::Tensor mean = shrunk_mean(prior, w.matmul(comps.mu), e.x[j], e.alpha_bar);
    if (!e.solved.empty())
      mean = mean + width_mean(prior, comps, view, r, e.solved[j], e.alpha_bar);
    out.push_back(mean);
  }
  return at::stack(out);
}

}  // namespace sds
