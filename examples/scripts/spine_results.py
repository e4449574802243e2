#!/usr/bin/env python3
"""Runs the spine's measurements on the exact prior and prints the markdown tables of
docs/results.md: default.json on every built-in concept, then the ablations (text-only vs camera
conditioning, kappa, uniform vs annealed t) on two concepts.

    .venv/bin/python examples/scripts/spine_results.py [--out runs/results] [--only default]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

CONCEPTS = ["a red mug", "a small robot", "a snowman", "a house"]
ABLATION_CONCEPTS = ["a red mug", "a small robot"]
ABLATIONS = [
    ("camera prior, kappa 1000, annealed t (default)", []),
    ("text-only prior", ["prior.conditioning=text"]),
    ("text-only prior + view-dependent prompts",
     ["prior.conditioning=text", "guidance.view_dependent_prompting=true"]),
    ("camera prior, kappa 40", ["prior.kappa=40"]),
    ("camera prior, uniform t in [20, 980]", ['guidance.timesteps={"type": "uniform"}']),
]


def generate(cli, config, out, prompt, sets):
    cmd = [cli, "generate", "--config", config, "--out", str(out), "--prompt", prompt]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def slug(text):
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default="build/sds")
    parser.add_argument("--config", default="examples/configs/default.json")
    parser.add_argument("--out", default="runs/results")
    parser.add_argument("--only", choices=["default", "ablations"], default=None)
    parser.add_argument("--ablation", default=None, help="run only the ablation of this name")
    args = parser.parse_args()
    out = Path(args.out)

    if args.only in (None, "default"):
        print("| concept | mean held-out PSNR | worst view | steps | seconds |")
        print("| --- | --- | --- | --- | --- |")
        for prompt in CONCEPTS:
            m = generate(args.cli, args.config, out / "default" / slug(prompt), prompt, [])
            print(f"| {prompt} | {m['psnr_heldout_mean']:.2f} dB | {m['psnr_heldout_min']:.2f} dB "
                  f"| {m['steps']} | {m['seconds']:.0f} |", flush=True)
        print()

    if args.only in (None, "ablations"):
        print("| setting | " + " | ".join(f"{p}: mean / worst" for p in ABLATION_CONCEPTS) + " |")
        print("| --- |" + " --- |" * len(ABLATION_CONCEPTS))
        for name, sets in ABLATIONS:
            if args.ablation and name != args.ablation:
                continue
            cells = []
            for prompt in ABLATION_CONCEPTS:
                m = generate(args.cli, args.config, out / slug(name) / slug(prompt), prompt, sets)
                cells.append(f"{m['psnr_heldout_mean']:.2f} / {m['psnr_heldout_min']:.2f} dB")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
