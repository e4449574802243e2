// The `sds` executable on bad input: a message and exit code 1, never a crash.

#include "testing.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "helpers.h"
#include "sds/core/io.h"

using Catch::Matchers::Contains;

namespace {

struct Result {
  int exit_code = -1;
  std::string output;
};

Result run_cli(const std::string& args) {
  const char* cli = std::getenv("SDS_CLI");
  REQUIRE(cli != nullptr);
  const std::string command = std::string(cli) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Result r;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  REQUIRE(WIFEXITED(status));  // a signal (a crash) fails here
  r.exit_code = WEXITSTATUS(status);
  return r;
}

std::string quick() { return std::string(SDS_SOURCE_DIR) + "/examples/configs/quick.json"; }

}  // namespace

TEST_CASE("sds generate reports bad input with a message and exit code 1", "[cli][errors]") {
  auto dir = sds::test::fresh_temp_dir("cli");
  const std::string out = " --out " + (dir / "run").string();

  sds::write_file_atomic(dir / "broken.json", "{\n  \"prompt\": \"a red mug\",\n  \"steps\": ,\n}");
  Result r = run_cli("generate --config " + (dir / "broken.json").string() + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("broken.json:3:") && Contains("malformed JSON"));

  r = run_cli("generate --config " + (dir / "missing.json").string() + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("missing.json") && Contains("cannot open"));

  r = run_cli("generate --config " + quick() + " --set guidance.guidence_scale=3" + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("guidence_scale") && Contains("guidance_scale"));

  r = run_cli("generate --config " + quick() + " --prompt 'a blue whale'" + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("a blue whale") && Contains("a red mug"));

  sds::write_file_atomic(dir / "scene.json", R"({"concepts": [{"prompt": "p", "primitives": [
      {"shape": "pyramid", "center": [0, 0, 0], "color": [1, 0, 0]}]}]})");
  r = run_cli("generate --config " + quick() + " --prompt p --scene " +
              (dir / "scene.json").string() + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("pyramid") && Contains("sphere"));

  r = run_cli("generate --config " + quick() + " --set representation.resolution=0" + out);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("resolution"));
}

TEST_CASE("sds generate --export writes the representation's files", "[cli][export]") {
  auto dir = sds::test::fresh_temp_dir("cli_export");
  const std::string config = std::string(SDS_SOURCE_DIR) + "/examples/configs/gaussians.json";
  const std::string small =
      " --steps 3 --set camera_sampler.height=16 --set camera_sampler.width=16"
      " --set representation.num_points=500 --set eval.turntable_frames=2";
  Result r = run_cli("generate --config " + config + small + " --export ply,obj,mesh_ply --out " +
                     (dir / "run").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"gaussians.ply", "mesh.obj", "mesh.ply"}) {
    CHECK(std::filesystem::file_size(dir / "run" / "export" / f) > 0);
  }
  CHECK_THAT(sds::read_text_file(dir / "run" / "export" / "gaussians.ply"),
             Contains("element vertex 500"));
  // A format the representation does not write fails before any training.
  r = run_cli("generate --config " + config + small + " --export glb --out " +
              (dir / "bad").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("glb") && Contains("ply, obj, mesh_ply"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad" / "checkpoint"));
}

TEST_CASE("sds eval runs configs and reports bad input", "[cli][eval]") {
  auto dir = sds::test::fresh_temp_dir("cli_eval");
  const std::string config = std::string(SDS_SOURCE_DIR) + "/examples/configs/eval/sds.json";
  Result r = run_cli("eval --configs " + config + " --small --out " + (dir / "eval").string());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("| sds | a red mug |") && Contains("results.md"));
  CHECK(std::filesystem::exists(dir / "eval" / "results.json"));

  r = run_cli("eval --configs " + (dir / "missing.json").string() + " --out " +
              (dir / "eval2").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("missing.json"));
  r = run_cli("eval --configs " + config + " --seeds 0 --out " + (dir / "eval3").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("--seeds"));
}

TEST_CASE("sds scenes lists the built-in concepts", "[cli]") {
  Result r = run_cli("scenes");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("a red mug") && Contains("a small robot"));
}

TEST_CASE("sds scenes lists and renders the built-in families", "[cli][families]") {
  const auto dir = sds::test::fresh_temp_dir("cli_families");
  Result r =
      run_cli("scenes --scene builtin:families --render " + dir.string() + " --size 16 --views 2");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("a post with a sign") && Contains("family of 4: +x, +y, -x, -y"));
  CHECK(std::filesystem::exists(dir / "concept_01_3.png"));
  CHECK(std::filesystem::exists(dir / "concept_02_2.png"));
}
