"""A tiny random-weight Stable Diffusion pipeline saved as a diffusers folder: the real folder
layout and component classes at toy sizes, so that the sds prior can be run and compared on the
CPU in seconds. The tokenizer is CLIP's byte-level alphabet without merges (every character is a
token), so no vocabulary file is needed."""
import torch


def byte_characters():
    """OpenAI's byte-to-character map (GPT-2's bytes_to_unicode), in CLIP's vocabulary order:
    the printable Latin-1 bytes first, then the other 68 mapped to U+0100 onwards."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def byte_level_vocab():
    chars = byte_characters()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


def save_tiny_pipeline(folder, prediction_type="epsilon", seed=0):
    import diffusers
    import transformers

    torch.manual_seed(seed)
    vocab = byte_level_vocab()
    text_config = transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="gelu",
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"])
    text_encoder = transformers.CLIPTextModel(text_config)
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 77
    unet = diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=16, use_linear_projection=True)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=16,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    with torch.no_grad():
        for module in (unet, vae, text_encoder):
            for p in module.parameters():
                p.add_(torch.randn_like(p) * 0.02)
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1, prediction_type=prediction_type)
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return pipe
