// Builds the five parts of a training step by hand, without the CLI or a config file, trains a
// voxel grid with SDS on the exact prior, and prints the held-out PSNR.
//
//   build/examples/example_train_by_hand [prompt] [steps]

#include <fmt/format.h>

#include <memory>

#include "sds/sds.h"

int main(int argc, char** argv) try {
  const std::string prompt = argc > 1 ? argv[1] : "a small robot";
  const int64_t steps = argc > 2 ? std::stoll(argv[2]) : 300;
  const int64_t size = 32;

  // 1. The prior: the built-in concepts, camera-conditioned (kappa = 1000).
  auto prior = std::make_shared<sds::ExactPrior>(sds::Scene::builtin());

  // 2. The guidance: SDS with w(t) = 1 - alpha_bar and max_step annealed 980 -> 300.
  sds::SdsOptions sds_options;
  auto guidance = std::make_shared<sds::Sds>(
      prior, prompt, sds_options,
      std::make_shared<sds::AnnealedTimestep>(),
      std::make_shared<sds::SdsWeighting>());

  // 3. The representation: a 48^3 voxel grid.
  sds::VoxelGridOptions grid_options;
  grid_options.resolution = 48;
  grid_options.samples_per_ray = 64;
  auto grid = std::make_shared<sds::VoxelGrid>(grid_options);

  // 4. The cameras: 4 views per step on the orbit the prior's components were rendered from.
  sds::OrbitSamplerOptions camera_options;
  camera_options.height = camera_options.width = size;
  auto sampler = std::make_shared<sds::OrbitSampler>(camera_options);

  // 5. The loop.
  sds::TrainerOptions trainer_options;
  trainer_options.steps = steps;
  trainer_options.seed = 1;
  sds::Trainer trainer(grid, sampler, guidance, trainer_options);
  trainer.train([](const sds::StepInfo& info) {
    if (info.step % 50 == 0) fmt::print("step {}/{}\n", info.step, info.total_steps);
  });

  sds::CameraBatch held_out(sds::held_out_views(3.0, 40.0, size, size));
  at::Tensor truth = prior->ground_truth(prompt, held_out).rgb;
  sds::ViewScores scores = sds::score_views(*grid, held_out, truth, trainer_options.render);
  fmt::print("{}: held-out PSNR mean {:.2f} dB, worst {:.2f} dB\n", prompt, scores.mean, scores.min);
  return scores.mean >= 24.0 ? 0 : 1;
} catch (const sds::Error& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
