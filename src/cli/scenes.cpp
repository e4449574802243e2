#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "sds/camera/sampler.h"
#include "sds/core/io.h"
#include "sds/diffusion/ground_truth.h"
#include "sds/diffusion/scene.h"

namespace sds::cli {

namespace {

struct ScenesArgs {
  std::string scene;
  std::string render;
  int64_t size = 128;
  int64_t views = 8;
  double elevation = 15.0;
};

void run(const ScenesArgs& a) {
  Scene scene = Scene::resolve(a.scene);
  for (size_t i = 0; i < scene.concepts.size(); ++i) {
    const Concept& c = scene.concepts[i];
    if (c.variants.empty()) {
      fmt::print("{}  \"{}\"  ({} primitives)\n", i, c.prompt, c.primitives.size());
    } else {
      std::vector<std::string> names;
      for (const Variant& v : c.variants) names.push_back(v.name);
      fmt::print("{}  \"{}\"  (family of {}: {})\n", i, c.prompt, names.size(),
                 fmt::join(names, ", "));
    }
  }
  if (a.render.empty()) return;
  CameraBatch cams(turntable_views(a.views, a.elevation, 3.0, 40.0, a.size, a.size));
  for (size_t i = 0; i < scene.concepts.size(); ++i) {
    const std::vector<Concept> members = scene.concepts[i].members();
    for (size_t m = 0; m < members.size(); ++m) {
      GroundTruthImages gt = render_ground_truth(members[m], cams);
      std::vector<at::Tensor> row;
      for (int64_t k = 0; k < cams.size(); ++k) row.push_back(gt.rgb[k]);
      const std::string name = members.size() == 1 ? fmt::format("concept_{:02d}.png", i)
                                                   : fmt::format("concept_{:02d}_{}.png", i, m);
      const auto path = std::filesystem::path(a.render) / name;
      write_png(path, at::cat(row, 2));
      fmt::print("wrote {}\n", path.string());
    }
  }
}

}  // namespace

void add_scenes(CLI::App& app) {
  auto args = std::make_shared<ScenesArgs>();
  CLI::App* cmd = app.add_subcommand("scenes", "list the exact prior's concepts and render them");
  cmd->add_option("--scene", args->scene,
                  "scene file, or builtin:families (default: the built-in concepts)");
  cmd->add_option("--render", args->render, "folder for ground-truth turntable strips");
  cmd->add_option("--size", args->size, "image size in pixels");
  cmd->add_option("--views", args->views, "views per strip (azimuths from the front)");
  cmd->add_option("--elevation", args->elevation, "elevation in degrees");
  cmd->callback([args] { run(*args); });
}

}  // namespace sds::cli
