#include "testing.h"

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/core/scalar_schedule.h"
#include "sds/guidance/timestep.h"
#include "sds/guidance/weighting.h"

using Catch::Matchers::Contains;

TEST_CASE("scalar schedules follow threestudio's C() forms", "[schedule]") {
  auto parse = [](const char* text) { return sds::ScalarSchedule::parse(sds::parse_json(text, "test"), "x"); };
  CHECK(parse("2.5")(123, 1000) == 2.5);
  // [start, end] over the run (last step = total - 1).
  auto whole = parse("[980, 300]");
  CHECK(whole(0, 101) == 980);
  CHECK(whole(50, 101) == Approx(640));
  CHECK(whole(100, 101) == 300);
  // [start, end, end_step] from step 0.
  auto three = parse("[2, 8, 1000]");
  CHECK(three(0, 5000) == 2);
  CHECK(three(500, 5000) == Approx(5));
  CHECK(three(4000, 5000) == 8);
  // [start_step, start, end, end_step]: ProlificDreamer's jump at 5000.
  auto jump = parse("[5000, 0.98, 0.5, 5001]");
  CHECK(jump(4999, 25000) == 0.98);
  CHECK(jump(5000, 25000) == 0.98);
  CHECK(jump(5001, 25000) == 0.5);
  // Fractions of the run.
  auto half = parse("[0, -1, 0.5]");
  CHECK(half(100, 400) == Approx(-0.5));
  CHECK(half(200, 400) == -1);
  CHECK(half(399, 400) == -1);
  CHECK(half.min() == -1);
  CHECK(half.max() == 0);
  REQUIRE_THROWS_WITH(parse("[1]"), Contains("x:") && Contains("[start, end]"));
  REQUIRE_THROWS_WITH(parse("[1, \"a\"]"), Contains("numbers"));
  REQUIRE_THROWS_WITH(parse("[100, 1, 2, 50]"), Contains("end_step > start_step"));
  REQUIRE_THROWS_AS(parse("\"fast\""), sds::Error);
}

TEST_CASE("annealed timesteps accept C() schedules for both bounds", "[schedule]") {
  auto t = sds::make<sds::TimestepSchedule>(sds::parse_json(
      R"({"type": "annealed", "min_step": [0, 980, 20, 8000], "max_step": [0, 980, 500, 8000]})", "test"));
  // MVDream: both bounds start at 980 and open to [20, 500] by step 8000.
  CHECK(t->range(0, 10000) == std::array<int64_t, 2>{980, 980});
  CHECK(t->range(4000, 10000) == std::array<int64_t, 2>{500, 740});
  CHECK(t->range(9000, 10000) == std::array<int64_t, 2>{20, 500});
  REQUIRE_THROWS_WITH(sds::make<sds::TimestepSchedule>(sds::parse_json(
                          R"({"type": "annealed", "max_step": [980, 1200]})", "test")),
                      Contains("1200"));
}

TEST_CASE("DreamTime's t(i) matches the reference table", "[schedule][dreamtime]") {
  const double progress[] = {0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95};
  const int64_t w_p_only[] = {980, 913, 851, 792, 672, 553, 494, 429, 382};
  const int64_t w_d_w_p[] = {980, 957, 931, 903, 832, 729, 654, 548, 476};
  sds::DreamTimeTimestepOptions o;
  o.base = "uniform";
  sds::DreamTimeTimestep p_only(o);
  sds::DreamTimeTimestep full;
  for (size_t i = 0; i < std::size(progress); ++i) {
    INFO("i/N = " << progress[i]);
    CHECK(p_only.timestep(progress[i]) == w_p_only[i]);
    CHECK(full.timestep(progress[i]) == w_d_w_p[i]);
  }
  // A probability distribution on [20, 980], flat (up to W_d) on [m2, m1].
  double total = 0;
  for (double p : p_only.prior()) total += p;
  CHECK(total == Approx(1.0).epsilon(1e-12));
  CHECK(p_only.prior()[600 - 20] == Approx(p_only.prior()[700 - 20]));
  // Deterministic, shared and non-increasing over a run.
  auto g = sds::make_generator(0);
  int64_t last = 1000;
  for (int64_t step = 0; step < 50; ++step) {
    at::Tensor t = full.sample(step, 50, 3, g);
    CHECK((t == t[0]).all().item<bool>());
    CHECK(t[0].item<int64_t>() <= last);
    last = t[0].item<int64_t>();
  }
  CHECK(last >= 20);
  REQUIRE_THROWS_WITH(sds::make<sds::TimestepSchedule>(
                          sds::parse_json(R"({"type": "dreamtime", "m1": 400, "m2": 500})", "test")),
                      Contains("m2 <= m1"));
  REQUIRE_THROWS_WITH(sds::make<sds::TimestepSchedule>(
                          sds::parse_json(R"({"type": "dreamtime", "base": "p2"})", "test")),
                      Contains("\"ddpm\" or \"uniform\""));
}

TEST_CASE("HiFA's sqrt anneal and SDI's linear anneal are deterministic", "[schedule]") {
  sds::PowerAnnealTimestep hifa({300, 980, 0.5});
  // threestudio's table (980, 764, 639, 499, 391, 300); 640 here because threestudio's 0.64 is
  // 0.6399999 in floating point before its int() truncation.
  CHECK(hifa.timestep(0, 1000) == 980);
  CHECK(hifa.timestep(100, 1000) == 764);
  CHECK(hifa.timestep(250, 1000) == 640);
  CHECK(hifa.timestep(500, 1000) == 499);
  CHECK(hifa.timestep(750, 1000) == 391);
  CHECK(hifa.timestep(1000, 1000) == 300);
  sds::PowerAnnealTimestep sdi({250, 980, 1.0});
  CHECK(sdi.timestep(500, 1000) == 615);
  auto g = sds::make_generator(0);
  at::Tensor t = sdi.sample(500, 1000, 4, g);
  CHECK((t == 615).all().item<bool>());
  CHECK(sds::make<sds::TimestepSchedule>(sds::Json("sqrt_anneal"))->range(0, 10)[0] == 980);
}

TEST_CASE("LucidDreamer's warm-up lowers the upper bound from 980 to 500", "[schedule]") {
  sds::WarmupTimestep w({20, 500, 980, 1500});
  CHECK(w.range(0, 5000) == std::array<int64_t, 2>{20, 980});
  CHECK(w.range(750, 5000) == std::array<int64_t, 2>{20, 740});
  CHECK(w.range(3000, 5000) == std::array<int64_t, 2>{20, 500});
  auto g = sds::make_generator(2);
  at::Tensor t = w.sample(3000, 5000, 4, g);
  CHECK((t == t[0]).all().item<bool>());  // one t for the batch
  CHECK(t[0].item<int64_t>() >= 20);
  CHECK(t[0].item<int64_t>() <= 500);
  REQUIRE_THROWS_AS(sds::WarmupTimestep({20, 500, 400, 10}), sds::Error);
}

TEST_CASE("the noise-to-signal weighting is sqrt((1 - a) / a)", "[schedule]") {
  auto w = sds::make<sds::Weighting>(sds::Json("noise_to_signal"));
  // The reference table's sqrt((1 - a) / a) at t = 200 and 800.
  at::Tensor a = at::tensor({0.753692, 0.036870}, at::kDouble);
  at::Tensor out = (*w)(a);
  CHECK(out[0].item<double>() == Approx(0.5717).margin(1e-4));
  CHECK(out[1].item<double>() == Approx(5.1110).margin(1e-4));
}
