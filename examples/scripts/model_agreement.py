"""Prints the agreement of sds's native model ports with diffusers / transformers on tiny
random-weight models in float32 on the CPU: max |ours - reference| / max |reference| per model and
config (the table in docs/priors.md). The configs are those of python/tests/test_models.py.

    PYTHONPATH=build/python:python/tests .venv/bin/python examples/scripts/model_agreement.py
"""
import tempfile

import diffusers
import torch
import transformers

import sds
from test_models import (CLASS_EMBEDDING, SD1_LIKE, SD2_LIKE, VAE_CONFIG, perturb,
                         relative_error, unet_inputs)


def main():
    rows = []
    for name, config, size in [("UNet SD1-like (conv proj, 8 heads)", SD1_LIKE, (8, 8)),
                               ("UNet SD1-like, 9x11 latents", SD1_LIKE, (9, 11)),
                               ("UNet SD2-like (linear proj, per-block heads, upcast)", SD2_LIKE, (8, 8)),
                               ("UNet SD2-like, 9x11 latents", SD2_LIKE, (9, 11)),
                               ("UNet with a projection class embedding", CLASS_EMBEDDING, (8, 8))]:
        with tempfile.TemporaryDirectory() as d:
            ref = perturb(diffusers.UNet2DConditionModel(**config), seed=1)
            ref.save_pretrained(d)
            ours = sds.models.UNet2DConditionModel.load(d)
            x, t, context, labels = unet_inputs(config, size)
            with torch.no_grad():
                expected = ref(x, t, context, class_labels=labels).sample
            rows.append((name, relative_error(ours(x, t, context, labels), expected)))
    with tempfile.TemporaryDirectory() as d:
        ref = perturb(diffusers.UNet2DConditionModel(**SD1_LIKE), seed=3)
        ref.half().save_pretrained(d, variant="fp16")
        ref32 = diffusers.UNet2DConditionModel.from_pretrained(d, variant="fp16",
                                                               torch_dtype=torch.float32)
        ours = sds.models.UNet2DConditionModel.load(d, variant="fp16")
        x, t, context, _ = unet_inputs(SD1_LIKE, (8, 8))
        with torch.no_grad():
            expected = ref32(x, t, context).sample
        rows.append(("UNet, fp16 weights loaded into float32", relative_error(ours(x, t, context), expected)))
    with tempfile.TemporaryDirectory() as d:
        ref = perturb(diffusers.AutoencoderKL(**VAE_CONFIG), seed=5)
        ref.save_pretrained(d)
        ours = sds.models.AutoencoderKL.load(d)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(2, 3, 32, 24, generator=g) * 2 - 1
        z = torch.randn(2, 4, 8, 6, generator=g)
        with torch.no_grad():
            posterior = ref.encode(x).latent_dist
            decoded = ref.decode(z).sample
        mean, logvar = ours.encode(x)
        rows.append(("VAE encode: posterior mean", relative_error(mean, posterior.mean)))
        rows.append(("VAE encode: log-variance", relative_error(logvar, posterior.logvar)))
        rows.append(("VAE decode", relative_error(ours.decode(z), decoded)))
    for act in ("quick_gelu", "gelu"):
        with tempfile.TemporaryDirectory() as d:
            config = transformers.CLIPTextConfig(
                vocab_size=1000, hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                num_attention_heads=4, max_position_embeddings=77, hidden_act=act)
            ref = perturb(transformers.CLIPTextModel(config), seed=7)
            ref.save_pretrained(d)
            ours = sds.models.CLIPTextModel.load(d)
            ids = torch.randint(0, 1000, (2, 77), generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                out = ref(ids, output_hidden_states=True)
                penultimate = ref.final_layer_norm(out.hidden_states[-2])
            rows.append((f"CLIP text ({act}): last hidden state", relative_error(ours(ids), out.last_hidden_state)))
            rows.append((f"CLIP text ({act}): penultimate + final LN", relative_error(ours(ids, skip_layers=1), penultimate)))
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"transformers {transformers.__version__}")
    print("| model and config | max abs error / max abs reference |")
    print("| --- | --- |")
    for name, err in rows:
        print(f"| {name} | {err:.1e} |")


if __name__ == "__main__":
    main()
