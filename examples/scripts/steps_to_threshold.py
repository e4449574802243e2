"""Steps to reach a progress PSNR, from the run folders of `sds eval`.

usage: python3 examples/scripts/steps_to_threshold.py runs/eval 25 sds sds_uniform_t sds_dreamtime
Prints, per config, how many runs reached the threshold (first progress step whose PSNR on the
config's eval.views held-out views is at or above it) and the median over every run, concepts
and seeds together: a run that never reached it counts as longer than its run length, so when
those runs hold the median it is printed as "> N" (censored), never averaged away.
"""
import json
import pathlib
import sys


def censored_median(hits, lengths):
    """Median of `hits` (None = never reached within the matching run length)."""
    keyed = sorted((h if h is not None else float("inf"), n) for h, n in zip(hits, lengths))
    if not keyed:
        return "no runs"
    mid = (len(keyed) - 1) / 2
    lo, hi = keyed[int(mid)], keyed[int(mid + 0.5)]
    if hi[0] == float("inf"):
        bound = lo[0] if lo[0] != float("inf") else lo[1]
        return f"> {(bound + hi[1]) / 2:g}" if lo is not hi else f"> {hi[1]}"
    return f"{(lo[0] + hi[0]) / 2:g}"


def main():
    root, threshold, configs = pathlib.Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    print(f"| config | runs reaching {threshold:g} dB | median steps to {threshold:g} dB |")
    print("| --- | --- | --- |")
    for config in configs:
        hits, lengths = [], []
        for metrics in sorted((root / config).glob("*/seed*/metrics.json")):
            m = json.loads(metrics.read_text())
            hits.append(next((s for s, psnr in m["progress_psnr"] if psnr >= threshold), None))
            lengths.append(m["steps"])
        reached = sum(h is not None for h in hits)
        print(f"| {config} | {reached}/{len(hits)} | {censored_median(hits, lengths)} |")


if __name__ == "__main__":
    main()
