#include "sds/train/regularisers.h"

#include "sds/core/error.h"

namespace sds {

RegulariserWeights RegulariserWeights::from_config(ConfigReader& c) {
  RegulariserWeights w;
  w.orientation = read_schedule(c, "orientation", w.orientation);
  w.sparsity = read_schedule(c, "sparsity", w.sparsity);
  w.opacity = read_schedule(c, "opacity", w.opacity);
  w.z_variance = read_schedule(c, "z_variance", w.z_variance);
  for (const auto& [name, s] :
       {std::pair{"orientation", &w.orientation}, std::pair{"sparsity", &w.sparsity},
        std::pair{"opacity", &w.opacity}, std::pair{"z_variance", &w.z_variance}}) {
    SDS_CHECK(s->min() >= 0, "{}.{}: expected a weight >= 0, got {}", c.where(), name, s->min());
  }
  c.finish();
  return w;
}

bool RegulariserWeights::any() const {
  return orientation.max() > 0 || sparsity.max() > 0 || opacity.max() > 0 || z_variance.max() > 0;
}

namespace {

// The mean of `value` over the pixels where `mask` holds (0 when none does), without a sync.
at::Tensor masked_mean(const at::Tensor& value, const at::Tensor& mask) {
  const at::Tensor m = mask.to(value.scalar_type());
  return (value * m).sum() / m.sum().clamp_min(1.0);
}

}  // namespace

GuidanceOutput regularisation(const RegulariserWeights& weights, const RenderOutput& render,
                              int64_t step, int64_t total_steps) {
  GuidanceOutput out;
  SDS_CHECK(render.alpha.defined(), "regularisers: the render has no alpha");
  const at::Tensor& alpha = render.alpha;
  out.loss = at::zeros({}, alpha.options());
  auto add = [&](const char* name, const ScalarSchedule& w, auto term) {
    const double lambda = w(step, total_steps);
    if (lambda == 0) return;
    const at::Tensor value = lambda * term();
    out.metrics[std::string("reg_") + name] = value.detach();
    out.loss = out.loss + value;
  };
  add("sparsity", weights.sparsity, [&] { return (alpha.square() + 0.01).sqrt().mean(); });
  add("opacity", weights.opacity, [&] {
    const at::Tensor a = alpha.clamp(1e-3, 1 - 1e-3);
    return (-(a * a.log() + (1 - a) * (1 - a).log())).mean();
  });
  add("orientation", weights.orientation, [&] {
    SDS_CHECK(render.orientation.defined(),
              "regularisers.orientation: the representation renders no per-sample normals "
              "(RenderOutput::orientation); set its weight to 0");
    return render.orientation.sum() / (alpha > 0).sum().to(alpha.scalar_type()).clamp_min(1.0);
  });
  add("z_variance", weights.z_variance, [&] {
    SDS_CHECK(render.z_variance.defined(),
              "regularisers.z_variance: the representation renders no depth variance "
              "(RenderOutput::z_variance: volumetric renderers); set its weight to 0");
    return masked_mean(render.z_variance, alpha > 0.5);
  });
  return out;
}

}  // namespace sds
