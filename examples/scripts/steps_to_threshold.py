"""Steps to reach a progress PSNR, from the run folders of `sds eval`.

usage: python3 examples/scripts/steps_to_threshold.py runs/eval 25 sds sds_uniform_t sds_dreamtime
Prints, per config, the mean over concepts and seeds of the first progress step whose PSNR (on the
config's eval.views held-out views) reaches the threshold, and how many runs never reached it.
"""
import json
import pathlib
import sys


def main():
    root, threshold, configs = pathlib.Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    print(f"| config | mean steps to {threshold:g} dB | runs that never reached it |")
    print("| --- | --- | --- |")
    for config in configs:
        steps, never = [], 0
        for metrics in sorted((root / config).glob("*/seed*/metrics.json")):
            progress = json.loads(metrics.read_text())["progress_psnr"]
            hit = next((step for step, psnr in progress if psnr >= threshold), None)
            if hit is None:
                never += 1
            else:
                steps.append(hit)
        mean = f"{sum(steps) / len(steps):.1f}" if steps else "never"
        print(f"| {config} | {mean} | {never} |")


if __name__ == "__main__":
    main()
