"""The demo's numbers as a mean and standard deviation over training seeds.

    python tools/seed_spread.py run --seeds 0 1 2 --cores 2      # three demos, results/demo_seed{0,1,2}
    python tools/seed_spread.py table results/demo_seed0 results/demo_seed1 results/demo_seed2

``run`` writes one overlay per seed (``results/seed_spread/seed<k>.yaml``) that sets the seed of every
training stage (train_cam, clims, irn, segmenter) to k and the run name to ``<run_name>_seed<k>``, and
runs Snakemake with the base config and that overlay. The demo world and the demo CLIP keep their
seeds: they stand for the dataset and the pretrained CLIP, which a user does not redraw, and every
seed's run shares them; the training-free seed sources (clip_es, maskclip), which read only the
CLIP, therefore give the same maps in every run. ``table`` reads each run's reports and prints a
Markdown table: per stage (each source the run lists in seeds.sources, then the refinement and the
segmenter) the mean ± the sample standard deviation (n - 1) over the runs, and each run's value.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import yaml

from wsss.config import load_config
from wsss.report import read_benchmarks

TRAINING_SECTIONS = ("train_cam", "clims", "irn", "segmenter")
OVERLAY_DIR = Path("results/seed_spread")


def seed_overlay(seed: int, run_name: str) -> dict:
    """The config overlay of one seed's run."""
    return {"run_name": f"{run_name}_seed{seed}", **{section: {"seed": seed} for section in TRAINING_SECTIONS}}


def run_seeds(seeds: list[int], base: Path, cores: str, extra: list[str]) -> list[Path]:
    """Run the DAG once per seed (Snakemake skips what is already complete); return the result folders."""
    config = load_config(base)
    OVERLAY_DIR.mkdir(parents=True, exist_ok=True)
    folders = []
    for seed in seeds:
        overlay = seed_overlay(seed, config["run_name"])
        path = OVERLAY_DIR / f"seed{seed}.yaml"
        path.write_text(yaml.safe_dump(overlay, sort_keys=False))
        command = ["snakemake", "--cores", cores, "--configfile", str(base), str(path), *extra]
        print("+", " ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"seed {seed}: the run took {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        folders.append(Path(config.get("results_dir", "results")) / overlay["run_name"])
    return folders


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing; is this a finished demo run?") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not a JSON report ({exc})") from None


def run_figures(run: Path) -> dict[str, float]:
    """The headline figures of one run's reports: val mIoU and leak (co-occurring background labelled
    as the object, %) of each stage, and the paired differences the demo's claims rest on."""
    figures = {}
    sources = yaml.safe_load((run / "config.yaml").read_text())["seeds"]["sources"]
    for method in sources:
        seeds = _read(run / "seeds" / f"{method}.json")
        figures[f"{method} seeds mIoU"] = seeds["best_of_sweep"]["summary"]["mIoU"]
        leak = seeds["cooccurring_background_labelled_as_object"]["best_of_sweep"]["overall"]
        figures[f"{method} seeds leak %"] = 100 * leak
    labels = _pseudo_label_scores(run)
    figures["pseudo-labels mIoU"] = labels["summary"]["mIoU"]
    figures["pseudo-labels leak %"] = 100 * labels["cooccurring_background_labelled_as_object"]["overall"]
    segmenter = _read(run / "evaluation" / "segmenter.json")
    headline = segmenter["modes"][segmenter["headline"]]
    figures["segmenter mIoU"] = headline["summary"]["mIoU"]
    figures["segmenter leak %"] = 100 * headline["cooccurring_background_labelled_as_object"]["overall"]
    if {"baseline", "clims"} <= set(sources):
        figures["CLIMS - baseline seeds mIoU"] = figures["clims seeds mIoU"] - figures["baseline seeds mIoU"]
        figures["baseline - CLIMS seeds leak %"] = figures["baseline seeds leak %"] - figures["clims seeds leak %"]
    figures["segmenter - pseudo-labels mIoU"] = figures["segmenter mIoU"] - figures["pseudo-labels mIoU"]
    return figures


def _pseudo_label_scores(run: Path) -> dict:
    """The pseudo-labels' scores on the run's evaluation split (its effective config names it)."""
    split = yaml.safe_load((run / "config.yaml").read_text())["dataset"]["eval_split"]
    path = run / "evaluation" / "pseudo_labels.json"
    try:
        return _read(path)[split]
    except KeyError:
        raise SystemExit(f"{path}: no scores for split {split!r}") from None


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.2f} (one run)"
    return f"{mean:.2f} ± {statistics.stdev(values):.2f}"


def rule_seconds(run: Path) -> dict[str, float]:
    """Each rule's wall seconds (Snakemake's benchmark files), and their sum."""
    seconds = {rule: entry["seconds"] for rule, entry in read_benchmarks(run / "benchmarks").items()}
    if not seconds:
        raise SystemExit(f"{run / 'benchmarks'}: no benchmark files; is this a finished run?")
    return {**seconds, "all rules": sum(seconds.values())}


def markdown(rows: list[dict[str, float]], runs: list[Path], what: str) -> str:
    """One row per key of the first run: mean ± sd, then each run's value ('-' where a run lacks it)."""
    lines = [f"| {what} | mean ± sd | " + " | ".join(run.name for run in runs) + " |", "|" + "---|" * (2 + len(runs))]
    for name in rows[0]:
        values = [row[name] for row in rows if name in row]
        cells = [f"{row[name]:.2f}" if name in row else "-" for row in rows]
        lines.append(f"| {name} | {spread(values)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(runs: list[Path]) -> str:
    """The figures' table and the rules' seconds' table of finished runs."""
    figures = markdown([run_figures(run) for run in runs], runs, "figure (val)")
    seconds = markdown([rule_seconds(run) for run in runs], runs, "rule (s)")
    return figures + "\n\n" + seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the demo once per seed")
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    run.add_argument("--cores", default="all")
    run.add_argument("snakemake_args", nargs="*", help="passed on to Snakemake (after --)")
    show = commands.add_parser("table", help="the spread table of finished runs")
    show.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    runs = run_seeds(args.seeds, args.config, args.cores, args.snakemake_args) if args.command == "run" else args.runs
    print(table(runs))


if __name__ == "__main__":
    main()
