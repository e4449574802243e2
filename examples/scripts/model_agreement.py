"""Prints the agreement of sds's native model ports with diffusers / transformers on tiny
random-weight models in float32 on the CPU: max |ours - reference| / max |reference| per model and
config (the table in docs/priors.md), through the same cases as python/tests/test_models.py.

    PYTHONPATH=build/python:python/tests .venv/bin/python examples/scripts/model_agreement.py
"""
import pathlib
import tempfile

import diffusers
import torch
import transformers

from test_models import (CLASS_EMBEDDING, SD1_LIKE, SD2_LIKE, clip_errors, fp16_unet_error,
                         unet_error, vae_errors)


def main():
    rows = []
    with tempfile.TemporaryDirectory() as root:
        folders = (pathlib.Path(root) / str(i) for i in range(100))
        for name, config, size in [
                ("UNet SD1-like (conv proj, 8 heads)", SD1_LIKE, (8, 8)),
                ("UNet SD1-like, 9x11 latents", SD1_LIKE, (9, 11)),
                ("UNet SD2-like (linear proj, per-block heads, upcast)", SD2_LIKE, (8, 8)),
                ("UNet SD2-like, 9x11 latents", SD2_LIKE, (9, 11)),
                ("UNet with a projection class embedding", CLASS_EMBEDDING, (8, 8))]:
            rows.append((name, unet_error(next(folders), config, size)))
        rows.append(("UNet, fp16 weights loaded into float32", fp16_unet_error(next(folders))))
        vae = vae_errors(next(folders))
        rows += [("VAE encode: posterior mean", vae["mean"]),
                 ("VAE encode: log-variance", vae["logvar"]), ("VAE decode", vae["decode"])]
        for act in ("quick_gelu", "gelu"):
            last, penultimate = clip_errors(next(folders), act)
            rows += [(f"CLIP text ({act}): last hidden state", last),
                     (f"CLIP text ({act}): penultimate + final LN", penultimate)]
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"transformers {transformers.__version__}")
    print("| model and config | max abs error / max abs reference |")
    print("| --- | --- |")
    for name, err in rows:
        print(f"| {name} | {err:.1e} |")


if __name__ == "__main__":
    main()
