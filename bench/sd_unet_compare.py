"""sds's native UNet2DConditionModel against diffusers' on the same weights and inputs, forward
only (no_grad), measured in the same run, interleaved, median of the timed repeats.

    PYTHONPATH=build/python .venv/bin/python bench/sd_unet_compare.py                # CPU, float32
    PYTHONPATH=build/python .venv/bin/python bench/sd_unet_compare.py --config sd21-base \\
        --device cuda --dtype float16 --size 64 --batch 2                           # the GPU goal

Configs: "sd21-base" is Stable Diffusion 2.1-base's UNet config (865M parameters, the real
model's FLOPs) with random weights; "sd21-small" is the same layout at a quarter of the width
(block_out_channels 64, 128, 256, 256; 64-dim heads; linear projections; cross-attention 1024
over 77 tokens), which a CPU runs in seconds. The ratio is sds / diffusers: <= 1 means sds is
at least as fast. Both run the same attention kernel (torch's scaled_dot_product_attention), so
the ratio measures the rest of the graph.
"""
import argparse
import statistics
import tempfile
import time

import torch

import sds

SD21_BASE = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True,
    upcast_attention=False, norm_num_groups=32)
SD21_SMALL = dict(SD21_BASE, block_out_channels=(64, 128, 256, 256), attention_head_dim=[1, 2, 4, 4])


def timed(fn, device, repeats):
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", choices=["sd21-small", "sd21-base"], default="sd21-small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    parser.add_argument("--size", type=int, default=32, help="latent height and width")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import diffusers

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    dtype = getattr(torch, args.dtype)
    config = SD21_BASE if args.config == "sd21-base" else SD21_SMALL
    torch.manual_seed(0)
    ref = diffusers.UNet2DConditionModel(**config).eval()
    with tempfile.TemporaryDirectory() as folder:
        ref.save_pretrained(folder)
        ours = sds.models.UNet2DConditionModel.load(folder)
    ref = ref.to(device, dtype)
    ours.to(device, dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 4, args.size, args.size, generator=g).to(device, dtype)
    t = torch.tensor([500] * args.batch, device=device)
    context = torch.randn(args.batch, 77, config["cross_attention_dim"], generator=g).to(device, dtype)
    with torch.no_grad():
        err = ((ours(x, t, context).float() - ref(x, t, context).sample.float()).abs().max()
               / ref(x, t, context).sample.float().abs().max()).item()
        for _ in range(2):  # warm-up
            ours(x, t, context)
            ref(x, t, context)
        ours_times, ref_times = [], []
        for _ in range(args.repeats):
            ours_times += timed(lambda: ours(x, t, context), device, 1)
            ref_times += timed(lambda: ref(x, t, context), device, 1)
    params = sum(p.numel() for p in ref.parameters())
    a, b = statistics.median(ours_times), statistics.median(ref_times)
    spread = lambda v: (max(v) - min(v)) / statistics.median(v)
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, {args.config} "
          f"({params / 1e6:.0f}M parameters), {args.device} {args.dtype}, batch {args.batch}, "
          f"latents {args.size}x{args.size}, {args.repeats} interleaved repeats")
    print(f"sds       {a * 1e3:9.2f} ms  (range/median {spread(ours_times):.2f})")
    print(f"diffusers {b * 1e3:9.2f} ms  (range/median {spread(ref_times):.2f})")
    print(f"ratio sds / diffusers: {a / b:.3f}; max error / max reference: {err:.1e}")


if __name__ == "__main__":
    main()
