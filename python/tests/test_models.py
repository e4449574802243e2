"""The native model ports against diffusers and transformers: tiny random-weight models are built
in-process, saved with save_pretrained (safetensors), loaded by sds, and run on the same inputs in
float32. Agreement is measured as max |ours - reference| / max |reference| (<= 1e-4)."""
import json

import pytest
import torch

import sds

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

TOLERANCE = 1e-4


def relative_error(ours, ref):
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def perturb(model, seed, scale=0.05):
    """Moves every parameter off its initial value (norm scales off 1, zero-initialised layers
    off 0), so that a swapped or ignored weight shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return model.eval()


SD1_LIKE = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=24,
    attention_head_dim=8, norm_num_groups=32)
SD2_LIKE = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
    block_out_channels=(32, 64, 64),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=40, attention_head_dim=[2, 4, 4], use_linear_projection=True,
    upcast_attention=True, transformer_layers_per_block=2, norm_num_groups=16, flip_sin_to_cos=False,
    freq_shift=1)
CLASS_EMBEDDING = dict(SD1_LIKE, layers_per_block=1, class_embed_type="projection",
                       projection_class_embeddings_input_dim=16)


def unet_inputs(config, size, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config["in_channels"], *size, generator=g)
    t = torch.tensor([999, 17][:batch])
    context = torch.randn(batch, 7, config["cross_attention_dim"], generator=g)
    labels = torch.randn(batch, 16, generator=g) if "class_embed_type" in config else None
    return x, t, context, labels


def unet_error(folder, config, size):
    """Our UNet against diffusers' on a perturbed random model saved to `folder`."""
    ref = perturb(diffusers.UNet2DConditionModel(**config), seed=1)
    ref.save_pretrained(folder)
    ours = sds.models.UNet2DConditionModel.load(str(folder))
    x, t, context, labels = unet_inputs(config, size)
    with torch.no_grad():
        expected = ref(x, t, context, class_labels=labels).sample
    got = ours(x, t, context, labels)
    assert got.shape == expected.shape
    return relative_error(got, expected)


def fp16_unet_error(folder):
    """fp16 weights (the "fp16" variant) loaded into float32 by both."""
    ref = perturb(diffusers.UNet2DConditionModel(**SD1_LIKE), seed=3)
    ref.half().save_pretrained(folder, variant="fp16")
    ref32 = diffusers.UNet2DConditionModel.from_pretrained(folder, variant="fp16",
                                                           torch_dtype=torch.float32).eval()
    ours = sds.models.UNet2DConditionModel.load(str(folder), variant="fp16")
    assert all(p.dtype == torch.float32 for p in ours.named_parameters().values())
    x, t, context, _ = unet_inputs(SD1_LIKE, (8, 8))
    with torch.no_grad():
        expected = ref32(x, t, context).sample
    return relative_error(ours(x, t, context), expected)


@pytest.mark.parametrize("name,config,size", [
    ("sd1", SD1_LIKE, (8, 8)),
    ("sd1-odd", SD1_LIKE, (9, 11)),
    ("sd2", SD2_LIKE, (8, 8)),
    ("sd2-odd", SD2_LIKE, (9, 11)),
    ("class", CLASS_EMBEDDING, (8, 8)),
])
def test_unet_matches_diffusers(tmp_path, name, config, size):
    assert unet_error(tmp_path, config, size) <= TOLERANCE


def test_unet_timesteps_of_any_dtype_and_a_scalar(tmp_path):
    ref = perturb(diffusers.UNet2DConditionModel(**SD1_LIKE), seed=2)
    ref.save_pretrained(tmp_path)
    ours = sds.models.UNet2DConditionModel.load(str(tmp_path))
    x, _, context, _ = unet_inputs(SD1_LIKE, (8, 8))
    with torch.no_grad():
        expected = ref(x, 500, context).sample
    for t in (torch.tensor(500), torch.tensor([500, 500]), torch.tensor([500.0, 500.0]),
              torch.tensor([500, 500], dtype=torch.float16)):
        assert relative_error(ours(x, t, context), expected) <= TOLERANCE


def test_fp16_weights_load_into_float32(tmp_path):
    assert fp16_unet_error(tmp_path) <= TOLERANCE
    assert (tmp_path / "diffusion_pytorch_model.fp16.safetensors").exists()
    with pytest.raises(sds.Error, match="no safetensors weights"):
        sds.models.UNet2DConditionModel.load(str(tmp_path))  # only the variant is there


def test_sharded_checkpoints_load(tmp_path):
    ref = perturb(diffusers.UNet2DConditionModel(**SD1_LIKE), seed=4)
    ref.save_pretrained(tmp_path, max_shard_size="200KB")
    index = tmp_path / "diffusion_pytorch_model.safetensors.index.json"
    assert index.exists()
    assert len(set(json.loads(index.read_text())["weight_map"].values())) > 1
    ours = sds.models.UNet2DConditionModel.load(str(tmp_path))
    x, t, context, _ = unet_inputs(SD1_LIKE, (8, 8))
    with torch.no_grad():
        expected = ref(x, t, context).sample
    assert relative_error(ours(x, t, context), expected) <= TOLERANCE


def test_parameter_names_are_diffusers_keys(tmp_path):
    for config in (SD1_LIKE, SD2_LIKE, CLASS_EMBEDDING):
        ref = diffusers.UNet2DConditionModel(**config)
        ours = sds.models.UNet2DConditionModel.from_config(dict(ref.config))
        assert set(ours.named_parameters()) == set(ref.state_dict())


VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                  block_out_channels=(32, 64, 64), norm_num_groups=32,
                  down_block_types=("DownEncoderBlock2D",) * 3,
                  up_block_types=("UpDecoderBlock2D",) * 3, scaling_factor=0.13025)


def vae_errors(folder):
    """Encode (posterior mean, log-variance) and decode against diffusers."""
    ref = perturb(diffusers.AutoencoderKL(**VAE_CONFIG), seed=5)
    ref.save_pretrained(folder)
    ours = sds.models.AutoencoderKL.load(str(folder))
    assert ours.scaling_factor == pytest.approx(0.13025)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 24, generator=g) * 2 - 1
    z = torch.randn(2, 4, 8, 6, generator=g)
    with torch.no_grad():
        posterior = ref.encode(x).latent_dist
        decoded = ref.decode(z).sample
    mean, logvar = ours.encode(x)
    return {"mean": relative_error(mean, posterior.mean),
            "logvar": relative_error(logvar, posterior.logvar),
            "decode": relative_error(ours.decode(z), decoded)}


def test_vae_matches_diffusers(tmp_path):
    assert max(vae_errors(tmp_path).values()) <= TOLERANCE


def test_vae_with_the_old_attention_key_names(tmp_path):
    ref = perturb(diffusers.AutoencoderKL(**VAE_CONFIG), seed=6)
    ref.save_pretrained(tmp_path)
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    state = safetensors_torch.load_file(path)
    old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    renamed = {}
    for key, value in state.items():
        for new, legacy in old.items():
            marker = f"mid_block.attentions.0.{new}."
            if marker in key:
                key = key.replace(marker, f"mid_block.attentions.0.{legacy}.")
                if value.dim() == 2:  # the oldest files store 1x1 convolutions
                    value = value[:, :, None, None]
        renamed[key] = value.contiguous()
    assert any("proj_attn" in k for k in renamed)
    safetensors_torch.save_file(renamed, path, metadata={"format": "pt"})
    ours = sds.models.AutoencoderKL.load(str(tmp_path))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = ref.encode(x).latent_dist.mean
    assert relative_error(ours.encode(x)[0], expected) <= TOLERANCE


def clip_errors(folder, act):
    """(last hidden state, penultimate layer + final layer norm) against transformers."""
    config = transformers.CLIPTextConfig(
        vocab_size=1000, hidden_size=48, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, max_position_embeddings=77, hidden_act=act)
    ref = perturb(transformers.CLIPTextModel(config), seed=7)
    ref.save_pretrained(folder)
    ours = sds.models.CLIPTextModel.load(str(folder))
    ids = torch.randint(0, 1000, (2, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = ref(ids, output_hidden_states=True)
        penultimate = ref.final_layer_norm(out.hidden_states[-2])
    return (relative_error(ours(ids), out.last_hidden_state),
            relative_error(ours(ids, skip_layers=1), penultimate))


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
def test_clip_text_model_matches_transformers(tmp_path, act):
    assert max(clip_errors(tmp_path, act)) <= TOLERANCE


def test_clip_text_model_from_a_transformers_4_file(tmp_path):
    """Files saved by transformers 4 prefix every key with text_model. and carry position_ids."""
    config = transformers.CLIPTextConfig(
        vocab_size=500, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77)
    ref = perturb(transformers.CLIPTextModel(config), seed=8)
    ref.save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = {"text_model." + k: v for k, v in safetensors_torch.load_file(path).items()}
    state["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    safetensors_torch.save_file(state, path, metadata={"format": "pt"})
    ours = sds.models.CLIPTextModel.load(str(tmp_path))
    ids = torch.randint(0, 500, (1, 77), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(ids).last_hidden_state
    assert relative_error(ours(ids), expected) <= TOLERANCE


def test_safetensors_files_round_trip_with_the_reference_library(tmp_path):
    tensors = {"a": torch.randn(3, 5), "b": torch.arange(7), "h": torch.randn(2, 2).half(),
               "bf": torch.randn(4).bfloat16(), "scalar": torch.tensor(2.5),
               "empty": torch.zeros(0, 3)}
    ours = tmp_path / "ours.safetensors"
    sds.models.write_safetensors(str(ours), tensors, {"format": "pt"})
    theirs = safetensors_torch.load_file(ours)
    for key, value in tensors.items():
        assert torch.equal(theirs[key], value), key
    ref = tmp_path / "ref.safetensors"
    safetensors_torch.save_file(tensors, ref)
    back = sds.models.read_safetensors(str(ref))
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key
