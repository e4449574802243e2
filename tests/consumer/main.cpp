// Uses the installed headers and libraries: one SDS gradient on the exact prior, checked
// against its formula, so a broken link or a missing header fails the test.
#include <sds/sds.h>

#include <cmath>
#include <cstdio>

int main() {
  auto prior = std::make_shared<sds::ExactPrior>(sds::Scene::builtin());
  auto guidance = sds::make<sds::Guidance>(sds::Json{{"type", "sds"}, {"guidance_scale", 1.0}},
                                           "guidance", {prior, "a small robot"});
  auto& sds_guidance = dynamic_cast<sds::DistillationGuidance&>(*guidance);
  sds::CameraBatch cameras({sds::Camera::orbit(10, 30, 3, 40, 16, 16)});
  at::Generator generator = sds::make_generator(0);
  at::Tensor z = at::rand({1, 3, 16, 16}, generator, at::kDouble) * 2 - 1;
  at::Tensor noise = at::randn({1, 3, 16, 16}, generator, at::kDouble);
  at::Tensor t = at::tensor({500}, at::kLong);
  at::Tensor g = sds_guidance.gradient(z, t, noise, cameras);
  // SDS at scale 1: g = (1 - a) (eps(z_t) - eps).
  const double a = prior->schedule().alpha_bar(500);
  at::Tensor z_t = prior->schedule().add_noise(z, noise, t);
  sds::Conditioning cond{{"a small robot"}, cameras};
  at::Tensor expected = (1 - a) * (prior->predict_noise(z_t, t, cond) - noise);
  const double err = (g - expected).abs().max().item<double>();
  std::printf("sds consumer: max |g - formula| = %.3g\n", err);
  return err < 1e-9 && std::isfinite(err) ? 0 : 1;
}
