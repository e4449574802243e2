"""Where an SDS step on the stable_diffusion prior spends its time: render (3D Gaussians), VAE
encode, UNet (the conditional and unconditional passes of CFG in one batch), and backward (into
the VAE encoder and the renderer), plus the whole Trainer step, median over the timed steps.

    PYTHONPATH=build/python:python/tests .venv/bin/python bench/sd_step_breakdown.py          # CPU
    PYTHONPATH=build/python:python/tests .venv/bin/python bench/sd_step_breakdown.py \\
        --pipeline sd21-base --device cuda --resolution 512 --render 256                      # GPU

"tiny" is the test suite's toy pipeline (python/tests/tiny_pipeline.py); "sd21-base" builds
Stable Diffusion 2.1-base's UNet, VAE and OpenCLIP-H text encoder configs with random weights
(the real model's FLOPs and memory; minutes to build). The goal on a GPU is everything but the
UNet under 15 % of the step; peak memory is printed on CUDA.
"""
import argparse
import statistics
import tempfile
import time

import torch

import sds


def save_sd21_base(folder):
    import diffusers
    import transformers
    from tiny_pipeline import byte_level_vocab

    vocab = byte_level_vocab()  # the real CLIP vocabulary's size matters little for speed
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
        num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu",
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"]))
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 77
    unet = diffusers.UNet2DConditionModel(
        sample_size=64, cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20],
        use_linear_projection=True)
    vae = diffusers.AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=512)
    scheduler = diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                        beta_end=0.012, clip_sample=False)
    diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None,
        requires_safety_checker=False).save_pretrained(folder)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline", choices=["tiny", "sd21-base"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=32, help="the VAE's input size")
    parser.add_argument("--render", type=int, default=32, help="render height and width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as folder:
        if args.pipeline == "tiny":
            from tiny_pipeline import save_tiny_pipeline
            save_tiny_pipeline(folder)
        else:
            save_sd21_base(folder)
        prior = sds.make_prior({"type": "stable_diffusion", "path": folder,
                                "resolution": args.resolution}, device=args.device)
    guidance = sds.make_guidance({"type": "sds", "guidance_scale": 100.0}, prior=prior,
                                 prompt="a corgi", device=args.device)
    gaussians = sds.make_representation({"type": "gaussians", "num_points": 5000}, seed=0,
                                        device=args.device)
    sampler = sds.OrbitSampler(height=args.render, width=args.render, batch_size=args.batch)
    g = torch.Generator().manual_seed(0)
    phases = {"render": [], "vae encode": [], "unet (cfg batch)": [], "backward": []}
    cond = sds.Conditioning(["a corgi"] * args.batch + [""] * args.batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.steps + 2):
        cams = sampler.sample(step, generator=g)
        sync(); t0 = time.perf_counter()
        rgb = gaussians.render(cams).rgb
        sync(); t1 = time.perf_counter()
        z = prior.encode(rgb)
        sync(); t2 = time.perf_counter()
        x_t = torch.randn(z.shape, generator=g).to(z.device).repeat(2, 1, 1, 1)
        eps = prior.predict_noise(x_t, torch.full((2 * args.batch,), 500, device=z.device), cond)
        sync(); t3 = time.perf_counter()
        (z * eps[: args.batch].detach()).sum().backward()
        sync(); t4 = time.perf_counter()
        if step >= 2:  # warm-up
            for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name].append(dt)
    trainer = sds.Trainer(gaussians, sampler, guidance, steps=args.steps + 2, seed=0,
                          device=args.device)
    step_times = []
    for step in range(args.steps + 2):
        sync(); t0 = time.perf_counter()
        trainer.step()
        sync()
        if step >= 2:
            step_times.append(time.perf_counter() - t0)
    total = sum(statistics.median(v) for v in phases.values())
    print(f"torch {torch.__version__}, {args.pipeline}, {args.device}, batch {args.batch}, "
          f"render {args.render}^2, VAE input {args.resolution}^2, {args.steps} timed steps")
    for name, values in phases.items():
        m = statistics.median(values)
        print(f"{name:18s} {m * 1e3:9.2f} ms  {100 * m / total:5.1f} %  "
              f"(range/median {(max(values) - min(values)) / m:.2f})")
    unet = statistics.median(phases["unet (cfg batch)"])
    print(f"everything but the UNet: {100 * (total - unet) / total:.1f} % of the phases")
    print(f"Trainer.step (whole step, incl. optimiser): {statistics.median(step_times) * 1e3:.2f} ms")
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
