// The README's example, compiled with the project so that it stays correct.

#include <sds/sds.h>

#include <cstdio>

int main() {
  auto prior = std::make_shared<sds::ExactPrior>(sds::Scene::builtin());
  auto guidance = std::make_shared<sds::Sds>(
      prior, "a small robot", sds::SdsOptions{},
      std::make_shared<sds::AnnealedTimestep>(),
      std::make_shared<sds::SdsWeighting>());
  auto grid = std::make_shared<sds::VoxelGrid>(sds::VoxelGridOptions{});
  auto cameras = std::make_shared<sds::OrbitSampler>(sds::OrbitSamplerOptions{});

  sds::TrainerOptions options;
  options.steps = 250;
  sds::Trainer trainer(grid, cameras, guidance, options);
  trainer.train();

  sds::CameraBatch held_out(sds::held_out_views(3.0, 40.0, 64, 64));
  auto truth = prior->ground_truth("a small robot", held_out).rgb;
  auto scores = sds::score_views(*grid, held_out, truth, options.render);
  std::printf("held-out PSNR %.2f dB\n", scores.mean);
}
