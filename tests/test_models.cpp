// The models layer's file readers and their errors, config validation, the tokenizer's BPE on a
// hand-made vocabulary, and LoRA's zero-initialised no-op. Numerical agreement with diffusers and
// transformers is in python/tests/test_models.py and test_clip_tokenizer.py.
#include "testing.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/rng.h"
#include "sds/models/blocks.h"
#include "sds/models/clip_tokenizer.h"
#include "sds/models/diffusers_folder.h"
#include "sds/models/safetensors.h"
#include "sds/models/unet.h"
#include "helpers.h"

namespace fs = std::filesystem;
using namespace sds::models;
using Catch::Matchers::Contains;

namespace {

fs::path temp_dir(const std::string& name) { return sds::test::fresh_temp_dir("models_" + name); }

// A safetensors file from a header text and raw data bytes.
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  std::ofstream(path, std::ios::binary) << bytes << header << data;
}

std::string floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

UNet2DConditionOptions tiny_unet() {
  UNet2DConditionOptions o;
  o.block_out_channels = {32, 32};
  o.down_block_types = {"CrossAttnDownBlock2D", "DownBlock2D"};
  o.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D"};
  o.layers_per_block = {1, 1};
  o.cross_attention_dim = {16, 16};
  o.transformer_layers_per_block = {1, 1};
  o.attention_heads = {4, 4};
  return o;
}

}  // namespace

TEST_CASE("safetensors: tensors of every common dtype round-trip with their metadata") {
  const fs::path dir = temp_dir("roundtrip");
  std::map<std::string, at::Tensor> tensors = {
      {"f32", at::randn({3, 5})},
      {"f16", at::randn({2, 2}).to(at::kHalf)},
      {"bf16", at::randn({4}).to(at::kBFloat16)},
      {"i64", at::arange(7)},
      {"scalar", at::scalar_tensor(2.5)},
      {"empty", at::zeros({0, 3})},
  };
  write_safetensors(dir / "a.safetensors", tensors, {{"format", "pt"}});
  SafetensorsFile file(dir / "a.safetensors");
  CHECK(file.metadata().at("format") == "pt");
  CHECK(file.keys().size() == tensors.size());
  for (const auto& [key, value] : tensors) {
    const at::Tensor back = file.tensor(key);
    CHECK(back.scalar_type() == value.scalar_type());
    CHECK(back.sizes() == value.sizes());
    CHECK(at::equal(back, value));
  }
  // The reference writer's layout: header length a multiple of 8, 8-byte types first.
  std::ifstream in(dir / "a.safetensors", std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
  CHECK(file.entry("i64").begin < file.entry("f32").begin);
}

TEST_CASE("safetensors: an unpadded header and unaligned data are read") {
  const fs::path dir = temp_dir("unpadded");
  // A 1-byte tensor first puts the float's data at an odd offset; the header is not padded.
  const std::string header =
      R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("x":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  write_raw(dir / "u.safetensors", header, std::string(1, '\x07') + floats({1.5f, -2.0f}));
  SafetensorsFile file(dir / "u.safetensors");
  CHECK(file.tensor("b").item<uint8_t>() == 7);
  const at::Tensor x = file.tensor("x");
  CHECK(x[0].item<float>() == 1.5f);
  CHECK(x[1].item<float>() == -2.0f);
}

TEST_CASE("safetensors: malformed files are errors that name the file and the entry") {
  const fs::path dir = temp_dir("malformed");
  const fs::path f = dir / "bad.safetensors";
  std::ofstream(f, std::ios::binary) << "abc";
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("bad.safetensors is 3 bytes"));

  write_raw(f, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1.0f}));
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("the tensors cover 8 bytes but the file has 4"));

  write_raw(f, R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2}));
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("\"x\" has 8 bytes of data but its dtype F32 "
                                                 "and shape [3] need 12"));

  write_raw(f,
            R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            floats({1, 2, 3}));
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("\"y\" starts at byte 8"));

  write_raw(f, R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "a");
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("entry \"x\"") && Contains("unknown dtype \"Q4\""));

  write_raw(f, R"({"x": nope})", "");
  CHECK_THROWS_AS(SafetensorsFile(f), sds::Error);

  // A header length beyond the file (a truncated download).
  std::string bytes(8, '\0');
  const uint64_t huge = 1 << 20;
  std::memcpy(bytes.data(), &huge, 8);
  std::ofstream(f, std::ios::binary) << bytes << "{}";
  CHECK_THROWS_WITH(SafetensorsFile(f), Contains("declares a 1048576-byte header"));

  CHECK_THROWS_WITH(SafetensorsFile(dir / "missing.safetensors"), Contains("cannot open"));
  write_safetensors(f, {{"x", at::ones({2})}});
  CHECK_THROWS_WITH(SafetensorsFile(f).tensor("y"), Contains("has no tensor \"y\""));
}

TEST_CASE("read_weights: variants, shard indexes and folders without safetensors") {
  const fs::path dir = temp_dir("weights");
  CHECK_THROWS_WITH(read_weights(dir / "nope", "model"), Contains("does not exist"));
  std::ofstream(dir / "model.bin") << "pickle";
  CHECK_THROWS_WITH(read_weights(dir, "model"),
                    Contains("pickled .bin checkpoints are not read") && Contains("model.bin"));
  write_safetensors(dir / "model.fp16.safetensors", {{"w", at::ones({2}).to(at::kHalf)}});
  CHECK(read_weights(dir, "model", "fp16").tensors.at("w").scalar_type() == at::kHalf);
  CHECK_THROWS_WITH(read_weights(dir, "model"), Contains("no safetensors weights"));

  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({1})}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", at::zeros({1})}});
  sds::write_file_atomic(dir / "model.safetensors.index.json",
                         R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                             "b": "model-00002-of-00002.safetensors"}})");
  const WeightMap sharded = read_weights(dir, "model");
  CHECK(sharded.tensors.size() == 2);
  CHECK(sharded.files.at("b") == "model-00002-of-00002.safetensors");
  sds::write_file_atomic(dir / "model.safetensors.index.json",
                         R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                             "b": "model-00001-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(read_weights(dir, "model"),
                    Contains("puts \"b\" in model-00001-of-00002.safetensors"));
}

TEST_CASE("load_weights lists missing, unexpected and mismatched keys with their files") {
  Linear layer(3, 2);
  WeightMap weights;
  weights.tensors = {{"weight", at::ones({2, 4})}, {"extra", at::ones({1})}};
  weights.files = {{"weight", "a.safetensors"}, {"extra", "b.safetensors"}};
  try {
    load_weights(layer, weights, "test layer");
    FAIL("no error");
  } catch (const sds::Error& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Contains("test layer"));
    CHECK_THAT(m, Contains("missing: bias"));
    CHECK_THAT(m, Contains("weight (a.safetensors: Float [2, 4], the model needs Float [2, 3])"));
    CHECK_THAT(m, Contains("unexpected: extra (b.safetensors)"));
  }
  weights.tensors = {{"weight", at::full({2, 3}, 2.0).to(at::kHalf)}, {"bias", at::ones({2})}};
  weights.files = {{"weight", "a"}, {"bias", "a"}};
  load_weights(layer, weights, "test layer");
  CHECK(layer.weight.scalar_type() == at::kFloat);  // fp16 weights load into float32
  CHECK(at::equal(layer.weight, at::full({2, 3}, 2.0)));
}

TEST_CASE("UNet configs that select features the port lacks are errors that name them") {
  auto with = [](const char* key, const sds::Json& value) {
    sds::Json config = {{"block_out_channels", {32, 32}},
                        {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                        {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
                        {"cross_attention_dim", 16},
                        {"attention_head_dim", 4}};
    config[key] = value;
    return config;
  };
  CHECK_NOTHROW(UNet2DConditionOptions::from_config(with("sample_size", 8)));
  CHECK_THROWS_WITH(UNet2DConditionOptions::from_config(with("down_block_types",
                                                             {"SimpleCrossAttnDownBlock2D",
                                                              "DownBlock2D"})),
                    Contains("down block type \"SimpleCrossAttnDownBlock2D\" is not supported"));
  CHECK_THROWS_WITH(UNet2DConditionOptions::from_config(with("addition_embed_type", "text_time")),
                    Contains("addition_embed_type = \"text_time\" is not supported"));
  CHECK_THROWS_WITH(UNet2DConditionOptions::from_config(with("num_attention_heads", 8)),
                    Contains("num_attention_heads must be null"));
  CHECK_THROWS_WITH(UNet2DConditionOptions::from_config(with("attention_head_dim", 5)),
                    Contains("5 heads"));
  CHECK_THROWS_WITH(UNet2DConditionOptions::from_config(with("frobnicate", 1)),
                    Contains("unknown key \"frobnicate\""));
  const sds::Json cleaned = model_config({{"_class_name", "UNet2DConditionModel"},
                                          {"_use_default_values", {"norm_eps"}},
                                          {"norm_eps", 0.5},
                                          {"in_channels", 4}});
  CHECK(cleaned == sds::Json{{"in_channels", 4}});
}

TEST_CASE("CLIPTokenizer: BPE by merge rank on a hand-made vocabulary") {
  // Merges in rank order: "l o", "lo w</w>", "e r</w>".
  std::unordered_map<std::string, int64_t> vocab = {
      {"l", 0},  {"o", 1},     {"w</w>", 2}, {"e", 3}, {"r</w>", 4},      {"lo", 5},
      {"low</w>", 6}, {"er</w>", 7}, {"w", 8}, {"<|startoftext|>", 9}, {"<|endoftext|>", 10},
      {"!</w>", 11}};
  CLIPTokenizerOptions options;
  options.model_max_length = 6;
  CLIPTokenizer tok(vocab, {{"l", "o"}, {"lo", "w</w>"}, {"e", "r</w>"}}, options);
  CHECK(tok.tokenize("low") == std::vector<int64_t>{6});
  CHECK(tok.tokenize("LOWER") == std::vector<int64_t>{5, 8, 7});  // lower-cased; "lo" "w" "er</w>"
  CHECK(tok.tokenize("  low\t\tlow ") == std::vector<int64_t>{6, 6});
  CHECK(tok.tokenize("low!") == std::vector<int64_t>{6, 11});
  CHECK(tok.tokenize("x") == std::vector<int64_t>{10});  // unknown -> <|endoftext|>
  CHECK(tok.tokenize("low<|endoftext|>low") == std::vector<int64_t>{6, 10, 6});
  const at::Tensor ids = tok.encode({"low low low low low", ""});
  CHECK(ids.sizes() == at::IntArrayRef{2, 6});
  CHECK(at::equal(ids[0], at::tensor({9, 6, 6, 6, 6, 10})));  // truncated, EOS last
  CHECK(at::equal(ids[1], at::tensor({9, 10, 10, 10, 10, 10})));
  CHECK_THROWS_WITH(tok.tokenize("bad \xC3"), Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(tok.tokenize("bad \xC0\xAF"), Contains("overlong"));
  CLIPTokenizerOptions missing;
  missing.pad_token = "!";
  CHECK_THROWS_WITH(CLIPTokenizer(vocab, {}, missing),
                    Contains("pad_token \"!\" is not in the vocabulary"));
}

TEST_CASE("LoRA at zero initialisation leaves the UNet unchanged and gets gradients") {
  auto unet = std::make_shared<UNet2DConditionModel>(tiny_unet());
  randomize_parameters(*unet, 3, 0.1);
  for (auto& p : unet->parameters()) p.requires_grad_(false);
  at::Generator gen = sds::make_generator(0);
  const at::Tensor x = at::randn({2, 4, 8, 8}, gen);
  const at::Tensor t = at::tensor({10, 900});
  const at::Tensor context = at::randn({2, 5, 16}, gen);
  at::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = unet->forward(x, t, context);
  }
  const auto layers = find_linear_layers(*unet, {"to_q", "to_k", "to_v", "to_out.0"});
  // Transformer blocks: down 0 (1 resnet), mid (1), up 1 (layers_per_block + 1 = 2); each has
  // two attentions of 4 projections.
  REQUIRE(layers.size() == (1 + 1 + 2) * 2 * 4);
  for (const auto& [name, layer] : layers) layer->add_lora("one", 4, 4.0, gen);
  const at::Tensor after = unet->forward(x, t, context);
  CHECK(at::equal(after.detach(), before));
  after.square().sum().backward();
  const auto& probe = layers.front().second;
  sds::models::LoraAdapter& one = probe->lora("one");
  REQUIRE(one.B->weight.grad().defined());
  CHECK(one.B->weight.grad().abs().max().item<double>() > 0);
  CHECK(one.A->weight.grad().abs().max().item<double>() == 0);  // B = 0 blocks it
  bool named = false;
  for (const auto& item : unet->named_parameters()) {
    named |= item.key() == "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.one.weight";
  }
  CHECK(named);  // peft's module names
  one.B->weight.data().fill_(0.01);
  torch::NoGradGuard no_grad;
  const at::Tensor with_one = unet->forward(x, t, context);
  CHECK(!at::equal(with_one, before));
  one.multiplier = 0.0;
  CHECK(at::equal(unet->forward(x, t, context), before));  // scale 0 disables the adapter
  one.multiplier = 1.0;

  // A second adapter on the same layer adds its own term; each can be switched off alone.
  sds::models::LoraAdapter& two = probe->add_lora("two", 2, 2.0, gen);
  CHECK(probe->adapters().size() == 2);
  CHECK(at::equal(unet->forward(x, t, context), with_one));  // zero-initialised
  two.B->weight.data().fill_(-0.02);
  one.enabled = false;
  const at::Tensor with_two = unet->forward(x, t, context);
  CHECK(!at::equal(with_two, before));
  CHECK(!at::equal(with_two, with_one));
  two.enabled = false;
  CHECK(at::equal(unet->forward(x, t, context), before));
  one.enabled = true;
  CHECK(at::equal(unet->forward(x, t, context), with_one));
  // On one layer alone: y = x W^T + b + s_1 B_1 A_1 x + s_2 B_2 A_2 x.
  two.enabled = true;
  const at::Tensor in = at::randn({3, probe->in_features()}, gen);
  const at::Tensor expected = at::linear(in, probe->weight, probe->bias) +
                              one.scaling * at::linear(at::linear(in, one.A->weight), one.B->weight) +
                              two.scaling * at::linear(at::linear(in, two.A->weight), two.B->weight);
  CHECK(sds::test::max_abs_diff(probe->forward(in), expected) < 1e-5);
  CHECK(two.scaling == 1.0);
  CHECK_THROWS_WITH(probe->add_lora("two", 2, 2.0, gen), Contains("already has an adapter"));
  CHECK_THROWS_WITH(probe->lora("three"), Contains("no adapter \"three\""));
}
