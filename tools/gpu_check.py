"""The GPU check: every stage of the VOC config that uses the GPU, at real shapes on a few generated
VOC-sized images, timed after warm-up, with its peak GPU memory and the full VOC run projected from it.

    python tools/gpu_check.py OUT            # on a CUDA machine (tools/gpu_check.sh installs first)
    python tools/gpu_check.py OUT --tiny     # the same parts at tiny sizes, on the CPU too (tests)

Each part calls a stage's own function with configs/voc12.yaml's settings; only the data, the weight
files (random-init, in the real formats, as `make rehearse` writes them) and the run lengths change
(``--tiny`` also shrinks images, crops and batches). Training parts run three epochs (the segmenter
a few iterations) and are timed after the first; per-image parts run twice and the second call is
timed. Every part has a time budget and the whole check a deadline; a part that would not fit is
skipped, one that overruns is stopped, and the table says which. Beside the precision voc12.yaml
selects, the training parts and make_cam run again in the mixed-precision option. CLIP-ES and
MaskCLIP seeds (configs/voc12_clip_es.yaml, a random ViT-B/16) run with fp16 weights, CLIP-ES again in
fp32 (its "mixed" row). A last part trains the CAM network twice with deterministic algorithms and
compares the weights.

OUT receives gpu_check.md (the table), gpu_check.json (the raw figures) and gpu_check.log.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import resource
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import torch

from wsss.config import effective_config, load_config, validate_config
from wsss.data.manifest import DatasetManifest
from wsss.device import pick_device
from wsss.rehearsal.projection import full_run, machine, work_units
from wsss.rehearsal.voc_sbd import write_voc_sbd
from wsss.rehearsal.weights import write_deeplab_caffe_resnet, write_openai_clip, write_torchvision_resnet

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("gpu_check")

# Generated images: VOC's sizes (longer side 500) and enough train_aug images for a few whole
# batches of 16 (train_cam, CLIMS) and 32 (IRN) per epoch; --tiny: small images and batches.
SCALE = {
    "real": {"counts": {"voc_train": 8, "voc_val": 4, "sbd_only": 56}, "sizes": None},
    "tiny": {"counts": {"voc_train": 2, "voc_val": 2, "sbd_only": 2}, "sizes": [(80, 60), (60, 80)]},
}
EPOCHS = 3  # the first is warm-up
SEGMENTER_ITERATIONS = {"real": 8, "tiny": 2}  # optimiser steps, each `accumulation` batches
TINY_SETTINGS = {
    "train_cam": {"crop_size": 64, "resize_long": [64, 96], "batch_size": 2},
    "clims": {"crop_size": 64, "resize_long": [64, 96], "batch_size": 2},
    "irn": {"crop_size": 128, "batch_size": 2},
    "segmenter": {"crop_size": 64, "batch_size": 2},
}
MIXED = {"train_cam": "bf16-autocast", "clims": "bf16-autocast", "irn": "bf16-autocast", "make_cam": "bf16-autocast"}


class OutOfTime(Exception):
    """A part ran past its budget."""


@dataclass
class Row:
    """One part's outcome: its timed work, or why it has none."""

    part: str = ""  # the Part's name, set by run_part
    precision: str = ""
    status: str = "ok"  # ok, skipped, failed, over budget
    unit: str = ""
    units: float = 0.0  # counted in the timed (post-warm-up) work
    seconds: float = 0.0  # of the timed work
    peak_gpu_gib: float | None = None
    budget_s: float = 0.0
    used_s: float = 0.0
    rules: list[str] = field(default_factory=list)  # the workflow rules whose work this rate stands for
    note: str = ""

    @property
    def per_unit(self) -> float:
        return self.seconds / self.units if self.units else float("nan")


def stage(name: str) -> ModuleType:
    """``stages/<name>.py`` as a module, imported only when its part runs (the segmenter needs mmcv)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def training_row(history: str | os.PathLike, precision: str, rule: str) -> Row:
    """The image-epochs and seconds of a training history's epochs after the first."""
    record = json.loads(Path(history).read_text())
    epochs = record["epoch_seconds"]
    units = record["images"] / len(epochs) * (len(epochs) - 1)
    return Row(precision=precision, unit="image-epoch", units=units, seconds=sum(epochs[1:]), rules=[rule])


def timed_images(check: Check, split: str, work: Callable[[], None], rules: list[str], precision: str = "") -> Row:
    """Run ``work`` over ``split``'s images; its seconds per image."""
    start = time.perf_counter()
    work()
    return Row(
        precision=precision, unit="image", units=check.images(split), seconds=time.perf_counter() - start, rules=rules
    )


def load_config_files(*names: str) -> dict:
    """The effective config of configs/<name>.yaml files layered in order."""
    return effective_config([REPO / "configs" / f"{name}.yaml" for name in names])


class Check:
    """Paths, the effective config and the device of one check."""

    def __init__(self, out: Path, work: Path, tiny: bool, threads: int):
        self.out, self.work, self.tiny, self.threads = out, work, tiny, threads
        self.scale = "tiny" if tiny else "real"
        self.device = pick_device()
        config = load_config(REPO / "configs" / "voc12.yaml")
        self.manifest = str(REPO / config["dataset"]["manifest"])
        weights = work / "weights"
        overrides = {
            "train_cam": {"pretrained": str(weights / "resnet50.pth"), "epochs": EPOCHS},
            "clims": {"epochs": EPOCHS},
            "irn": {"pretrained": str(weights / "resnet50.pth"), "epochs": EPOCHS},
            "segmenter": {
                "pretrained": str(weights / "segmenter_backbone.pth"),
                "iterations": SEGMENTER_ITERATIONS[self.scale],
            },
        }
        for section, values in overrides.items():
            config[section].update(values, **(TINY_SETTINGS[section] if tiny else {}))
        self.config = validate_config(config, "configs/voc12.yaml + gpu_check")
        self.clip = str(weights / "ViT-B-32.pt")
        self.clip_vit_b16 = str(weights / "ViT-B-16.pt")  # the training-free seed sources' CLIP
        self.clip_es_config = load_config_files("voc12", "voc12_clip_es")
        self.root = str(work / "voc12_aug")
        data = self.config["dataset"]
        self.train_split, self.seed_split, self.eval_split = (
            data[k] for k in ("train_split", "seed_eval_split", "eval_split")
        )

    def images(self, split: str) -> int:
        return len((Path(self.root) / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split())

    def path(self, name: str) -> str:
        return str(self.work / name)


def write_inputs(check: Check) -> Row:
    """The miniature VOC + SBD devkits, the prepared root, and random-init ResNet-50/101 and CLIP files."""
    start = time.perf_counter()
    classes = list(DatasetManifest.load(check.manifest).class_names)
    devkits = check.work / "devkits"
    write_voc_sbd(devkits, classes, counts=SCALE[check.scale]["counts"], sizes=SCALE[check.scale]["sizes"])
    voc_sbd = check.config["voc_sbd"]
    stage("prepare_voc_sbd").prepare_voc_sbd_stage(
        str(devkits / "VOCdevkit" / "VOC2012"),
        str(devkits / "benchmark_RELEASE" / "dataset"),
        check.root,
        check.path("prepared.json"),
        convert_sbd_masks=voc_sbd["convert_sbd_masks"],
    )
    weights = check.work / "weights"
    weights.mkdir(exist_ok=True)
    write_torchvision_resnet(weights / "resnet50.pth", "resnet50")
    segmenter = check.config["segmenter"]
    if segmenter["init"] == "deeplab_caffe":  # deeplab-pytorch's file, as voc12.yaml reads it
        write_deeplab_caffe_resnet(segmenter["pretrained"], segmenter["backbone"])
    else:
        write_torchvision_resnet(segmenter["pretrained"], segmenter["backbone"])
    write_openai_clip(check.clip, "ViT-B/32")
    write_openai_clip(check.clip_vit_b16, "ViT-B/16")
    return Row(
        unit="image",
        units=check.images(check.train_split) + check.images(check.eval_split),
        seconds=time.perf_counter() - start,
        note=f"train_aug {check.images(check.train_split)}, val {check.images(check.eval_split)} images",
    )


def train_cam(check: Check, precision: str, name: str | None = None) -> Row:
    """The baseline CAM network (ResNet-50, 512 crops, batch 16): three epochs, the last two timed."""
    name = name or f"train_cam_{precision}"
    settings = {**check.config["train_cam"], "precision": precision}
    stage("train_cam").train_cam(
        check.root,
        check.manifest,
        check.path(f"{name}.pt"),
        check.path(f"{name}.json"),
        split=check.train_split,
        threads=check.threads,
        **settings,
    )
    return training_row(check.path(f"{name}.json"), precision, "train_cam")


def train_clims(check: Check, precision: str) -> Row:
    """CLIMS against CLIP ViT-B/32 from the baseline, three epochs, the last two timed."""
    name = f"train_clims_{precision}"
    stage("train_clims").train_clims(
        check.root,
        check.manifest,
        check.path(f"train_cam_{check.config['train_cam']['precision']}.pt"),
        check.path(f"{name}.pt"),
        check.path(f"{name}.json"),
        clip_model=check.clip,
        clip_weights=check.clip,
        clip_download_root=None,
        clip_input_mode=check.config["clip"]["input_mode"],
        split=check.train_split,
        threads=check.threads,
        **{**check.config["clims"], "precision": precision},
    )
    return training_row(check.path(f"{name}.json"), precision, "train_clims")


def make_cam(check: Check, precision: str) -> Row:
    """CAMs of the CLIMS network at the config's scales with flips: a warm-up call on the seed split,
    then the timed call on train_aug (whose CAMs the later parts read)."""
    make = stage("make_cam").make_cam
    checkpoint = check.path(f"train_clims_{check.config['clims']['precision']}.pt")
    settings = {**check.config["make_cam"], "precision": precision}
    make(check.root, check.manifest, checkpoint, check.path(f"cams_warm_{precision}"), [check.seed_split], **settings)
    return timed_images(
        check,
        check.train_split,
        lambda: make(
            check.root, check.manifest, checkpoint, check.path(f"cams_{precision}"), [check.train_split], **settings
        ),
        ["make_cam_clims_0", "make_cam_baseline_0"],
        precision,
    )


def clip_seeds(check: Check, source: str, precision: str) -> Row:
    """A training-free source's maps (voc12_clip_es.yaml's settings) with a random ViT-B/16: a warm-up
    call on the seed split, then the timed call on train_aug; 'reference' is fp16 weights on CUDA,
    'fp32' the comparison beside it."""
    make = stage("make_clip_cams").make_clip_cams
    settings = {**check.clip_es_config[source], "model": check.clip_vit_b16, "precision": precision}
    out = check.path(f"{source}_{precision}")
    make(check.root, check.manifest, out + "_warm", source, settings, [check.seed_split], threads=check.threads)
    return timed_images(
        check,
        check.train_split,
        lambda: make(check.root, check.manifest, out, source, settings, [check.train_split], threads=check.threads),
        [f"make_clip_cams_{source}_0"],
        precision,
    )


def ir_label(check: Check) -> Row:
    """IRN's training labels from the CAMs: the dense CRF, on the CPU with every core."""
    row = timed_images(
        check,
        check.train_split,
        lambda: stage("ir_label").ir_label(
            check.root,
            check.manifest,
            check.path(f"cams_{check.config['make_cam']['precision']}"),
            check.path("ir_labels"),
            [check.train_split],
            crf=check.config["crf"],
            threads=os.cpu_count() or 1,
            **check.config["ir_label"],
        ),
        ["ir_label_0"],
    )
    row.note = f"CPU, {os.cpu_count()} processes"
    return row


def train_on_labels(check: Check, rule: str, labels: str, name: str, **overrides: object) -> str:
    """Run the training stage ``rule`` (train_irn, train_seg) on the label folder ``labels`` of the train
    split with its config section and ``overrides``; write ``<name>.pt`` and return ``<name>.json``."""
    section = {"train_irn": "irn", "train_seg": "segmenter"}[rule]
    history = check.path(f"{name}.json")
    getattr(stage(rule), rule)(
        check.root,
        check.manifest,
        check.path(labels),
        check.path(f"{name}.pt"),
        history,
        split=check.train_split,
        threads=check.threads,
        **{**check.config[section], **overrides},
    )
    return history


def train_irn(check: Check, precision: str) -> Row:
    """IRN's boundary and displacement branches (ResNet-50, 512 crops, batch 32), three epochs, the last two timed."""
    history = train_on_labels(check, "train_irn", "ir_labels", f"train_irn_{precision}", precision=precision)
    return training_row(history, precision, "train_irn")


def random_walk(check: Check) -> Row:
    """Pseudo-labels by IRN's random walk: a warm-up call on the seed split, the timed one on train_aug."""
    make = stage("make_pseudo_labels").make_pseudo_labels
    cams = check.path(f"cams_{check.config['make_cam']['precision']}")
    irn = check.path(f"train_irn_{check.config['irn']['precision']}.pt")
    crf, refine = check.config["crf"], check.config["refine"]
    make(check.root, check.manifest, cams, check.path("pseudo_warm"), [check.seed_split], irn=irn, crf=crf, **refine)
    row = timed_images(
        check,
        check.train_split,
        lambda: make(
            check.root,
            check.manifest,
            cams,
            check.path("pseudo_labels"),
            [check.train_split],
            irn=irn,
            crf=crf,
            **refine,
        ),
        ["make_pseudo_labels_0"],
    )
    row.note = f"refine.method {refine['method']}"
    return row


def train_seg(check: Check, amp: bool) -> Row:
    """DeepLab (voc12: V2-ResNet-101, 321 crops, batch 10, MSC) for a few iterations; the median batch
    after the first two, times the accumulation, per optimiser step."""
    settings = check.config["segmenter"]
    history = train_on_labels(check, "train_seg", "pseudo_labels", f"train_seg_{'amp' if amp else 'fp32'}", amp=amp)
    record = json.loads(Path(history).read_text())
    batches = settings["iterations"] * settings["accumulation"]
    return Row(
        precision="amp" if amp else "fp32",
        unit="iteration",
        units=1,
        seconds=record["median_batch_seconds"] * settings["accumulation"],
        rules=["train_seg"],
        note=f"median of batches 3-{batches}, x{settings['accumulation']} accumulation",
    )


def eval_seg(check: Check) -> Row:
    """The segmenter on val with the config's test (multi-scale, CRF): a warm-up call, then the timed one."""
    evaluate = stage("eval_seg").eval_seg
    checkpoint = check.path(f"train_seg_{'amp' if check.config['segmenter']['amp'] else 'fp32'}.pt")
    settings = {**check.config["eval_seg"], "split": check.eval_split, "threads": check.threads}
    evaluate(
        check.root, check.manifest, checkpoint, check.path("pred_warm"), check.path("counts_warm.json"), **settings
    )
    return timed_images(
        check,
        check.eval_split,
        lambda: evaluate(
            check.root, check.manifest, checkpoint, check.path("predictions"), check.path("counts.json"), **settings
        ),
        ["eval_seg_0"],
    )


def determinism(check: Check) -> Row:
    """train_cam twice with deterministic algorithms: equal weights or not, and the rate it trains at."""
    torch.use_deterministic_algorithms(True, warn_only=True)  # ops without a deterministic kernel: a warning
    try:
        rows = [train_cam(check, check.config["train_cam"]["precision"], f"deterministic_{k}") for k in (1, 2)]
    finally:
        torch.use_deterministic_algorithms(False)
    first, second = (torch.load(check.path(f"deterministic_{k}.pt"), weights_only=True)["model"] for k in (1, 2))
    equal = first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    row = rows[1]
    row.rules = []
    row.note = "train_cam twice: " + ("equal weights" if equal else "different weights")
    return row


@dataclass
class Part:
    name: str
    budget: float  # seconds, on the real shapes
    run: Callable[[Check], Row]
    needs: tuple[str, ...] = ()
    segmenter: bool = False  # needs mmcv's ops


def parts(config: dict) -> list[Part]:
    """The parts in order: the configured precision through the pipeline, the mixed precision beside
    each, determinism, and the segmenter last, which needs mmcv's ops (built meanwhile)."""
    precision = {section: config[section]["precision"] for section in MIXED}
    amp = config["segmenter"]["amp"]
    return [
        Part("inputs", 90, write_inputs),
        Part("train_cam", 40, lambda c: train_cam(c, precision["train_cam"]), ("inputs",)),
        Part("train_clims", 45, lambda c: train_clims(c, precision["clims"]), ("train_cam",)),
        Part("make_cam", 30, lambda c: make_cam(c, precision["make_cam"]), ("train_clims",)),
        Part("ir_label", 30, ir_label, ("make_cam",)),
        Part("train_irn", 40, lambda c: train_irn(c, precision["irn"]), ("ir_label",)),
        Part("random_walk", 30, random_walk, ("train_irn",)),
        Part("train_cam mixed", 30, lambda c: train_cam(c, MIXED["train_cam"]), ("inputs",)),
        Part("train_clims mixed", 35, lambda c: train_clims(c, MIXED["clims"]), ("train_cam",)),
        Part("make_cam mixed", 25, lambda c: make_cam(c, MIXED["make_cam"]), ("train_clims",)),
        Part("train_irn mixed", 30, lambda c: train_irn(c, MIXED["irn"]), ("ir_label",)),
        Part("clip_es", 40, lambda c: clip_seeds(c, "clip_es", "reference"), ("inputs",)),
        Part("maskclip", 25, lambda c: clip_seeds(c, "maskclip", "reference"), ("inputs",)),
        Part("clip_es mixed", 40, lambda c: clip_seeds(c, "clip_es", "fp32"), ("inputs",)),
        Part("determinism", 50, determinism, ("inputs",)),
        Part("train_seg", 60, lambda c: train_seg(c, amp), ("random_walk",), segmenter=True),
        Part("eval_seg", 40, eval_seg, ("train_seg",), segmenter=True),
        Part("train_seg mixed", 45, lambda c: train_seg(c, not amp), ("random_walk",), segmenter=True),
    ]


def _raise_out_of_time(signum, frame):
    raise OutOfTime


def run_part(check: Check, part: Part, budget: float) -> Row:
    """Run ``part`` for at most ``budget`` seconds (a timer signal stops it), with its peak GPU memory."""
    cuda = check.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _raise_out_of_time)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        row = part.run(check)
        if cuda:
            torch.cuda.synchronize()
    except OutOfTime:
        row = Row(status="over budget", note=f"stopped after {budget:.0f} s")
    except Exception as exc:  # one broken part must not cost the others
        log.exception("%s failed", part.name)
        row = Row(status="failed", note=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    row.part, row.budget_s, row.used_s = part.name, budget, time.perf_counter() - start
    if cuda:
        row.peak_gpu_gib = torch.cuda.max_memory_allocated() / 2**30
    return row


def segmenter_ready(mmcv_status: Path | None, wait: float) -> str:
    """'' when mmcv's ops import, else why the segmenter parts cannot run. ``mmcv_status``: the file
    in which a build running beside the check writes its exit status, waited for ``wait`` seconds."""
    if mmcv_status is not None:
        until = time.perf_counter() + wait
        while not mmcv_status.is_file() and time.perf_counter() < until:
            time.sleep(1)
        if not mmcv_status.is_file():
            return f"mmcv's build had not finished ({wait:.0f} s waited)"
        if mmcv_status.read_text().strip() != "0":
            return f"mmcv's build failed (exit {mmcv_status.read_text().strip()}, mmcv_build.log)"
    try:
        import mmcv.ops  # noqa: F401
    except Exception as exc:
        return f"mmcv's ops do not import ({type(exc).__name__})"
    return ""


def projection(rows: list[Row]) -> list[dict]:
    """Projected hours of the full VOC run per rule, from the configured precision's rows and, beside
    them, from each stage's mixed-precision row where one was measured."""
    full_config, splits = full_run(REPO / "configs" / "voc12.yaml")
    # The training-free sources' rules stand for the CLIP-ES variant, whose refined source they are.
    clip_es_config, _ = full_run(*(REPO / "configs" / f"{name}.yaml" for name in ("voc12", "voc12_clip_es")))
    configured = {r.part: r for r in rows if r.status == "ok" and r.rules and not r.part.endswith("mixed")}
    mixed = {r.part.removesuffix(" mixed"): r for r in rows if r.status == "ok" and r.part.endswith("mixed")}
    table = []
    released = {"train_cam": "baseline_cam", "train_clims": "clims_cam"}  # rules a released file replaces
    for part, row in configured.items():
        for rule in row.rules:
            if full_config["released"].get(released.get(rule, ""), None):
                continue
            unit, units = work_units(rule, clip_es_config if rule.startswith("make_clip_cams") else full_config, splits)
            hours = row.per_unit * units / 3600
            faster = mixed.get(part, row)
            table.append(
                {
                    "rule": rule,
                    "unit": unit,
                    "units": units,
                    "hours": hours,
                    "mixed_hours": faster.per_unit * units / 3600,
                }
            )
    return table


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU only, torch {torch.__version__}"


def markdown(check: Check, rows: list[Row], projected: list[dict], deadline: float, spent: float) -> str:
    lines = [
        f"GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {device_name(check.device)}; "
        f"host {machine(REPO)}; {'tiny sizes' if check.tiny else 'real shapes'}; "
        f"{spent:.0f} s of a {deadline:.0f} s deadline.",
        "",
        "| part | precision | status | unit | timed units | s per unit | units per s | peak GPU GiB "
        "| budget s | used s | note |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        timed = r.status == "ok" and r.units
        rate = f"{r.per_unit:.3f} | {1 / r.per_unit:.2f}" if timed and r.seconds else " | "
        peak = "" if r.peak_gpu_gib is None else f"{r.peak_gpu_gib:.2f}"
        lines.append(
            f"| {r.part} | {r.precision} | {r.status} | {r.unit} | {r.units:g} | {rate} | {peak} | "
            f"{r.budget_s:.0f} | {r.used_s:.1f} | {r.note} |"
        )
    if projected:
        # The training-free seed sources belong to the CLIP-ES variant's run, not to voc12.yaml's total.
        clims_run = [p for p in projected if not p["rule"].startswith("make_clip_cams")]
        total, total_mixed = sum(p["hours"] for p in clims_run), sum(p["mixed_hours"] for p in clims_run)
        lines += [
            "",
            "Projected full VOC run (configs/voc12.yaml's epochs, iterations and split sizes) on this device;",
            "make_clip_cams rows: configs/voc12_clip_es.yaml's seeds (CLIP-ES on train_aug, MaskCLIP on train),",
            "outside the total; 'mixed precision' is fp32 for them:",
            "",
            "| rule | unit | full-run units | hours, configured precision | hours, mixed precision |",
            "|---|---|---:|---:|---:|",
            *(
                f"| {p['rule']} | {p['unit']} | {p['units']:g} | {p['hours']:.2f} | {p['mixed_hours']:.2f} |"
                for p in sorted(projected, key=lambda p: -p["hours"])
            ),
            f"| total of the rules measured | | | {total:.2f} | {total_mixed:.2f} |",
            "",
            "Not measured here: prepare_voc_sbd, check_dataset, eval_cam, eval_labels, previews, gathers "
            "and reports (CPU rules of seconds to minutes, docs/rehearsal.md).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for gpu_check.md, gpu_check.json and gpu_check.log")
    parser.add_argument("--tiny", action="store_true", help="tiny images, crops and batches (CPU tests)")
    parser.add_argument("--deadline", type=float, default=390, help="seconds for all parts together")
    parser.add_argument(
        "--work", type=Path, help="folder for the generated data and outputs (default: a temporary one)"
    )
    parser.add_argument("--mmcv-status", type=Path, help="file holding the exit status of mmcv's build, if built")
    parser.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1), help="data-loading workers")
    args = parser.parse_args(argv)
    # cuBLAS is deterministic only with a fixed workspace, set before CUDA starts; the other parts
    # run with it too (it bounds cuBLAS's workspace, it changes no result).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    args.out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(args.out / "gpu_check.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        check_all(args)
    finally:
        root.removeHandler(handler)
        handler.close()


def check_all(args: argparse.Namespace) -> None:
    """Run the parts, then write the table and the raw figures."""
    start = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    check = Check(args.out, work, args.tiny, args.threads)
    budget_scale = 1.0 if not args.tiny else args.deadline / 390
    rows: list[Row] = []
    done: set[str] = set()
    segmenter_problem = None
    for part in parts(check.config):
        left = args.deadline - (time.perf_counter() - start)
        budget = min(part.budget * budget_scale, left)
        missing = [name for name in part.needs if name not in done]
        if part.segmenter and segmenter_problem is None:
            needed = sum(p.budget * budget_scale for p in parts(check.config) if p.segmenter)
            segmenter_problem = segmenter_ready(args.mmcv_status, max(0.0, left - needed))
            left = args.deadline - (time.perf_counter() - start)
            budget = min(part.budget * budget_scale, left)
        reason = (
            f"needs {', '.join(missing)}"
            if missing
            else segmenter_problem
            if part.segmenter and segmenter_problem
            else f"{left:.0f} s left of the deadline"
            if budget < min(10.0, part.budget * budget_scale)
            else ""
        )
        if reason:
            rows.append(Row(part.name, status="skipped", note=reason))
        else:
            log.info("part %s: budget %.0f s", part.name, budget)
            building = args.mmcv_status is not None and not args.mmcv_status.is_file()
            rows.append(run_part(check, part, budget))
            if building:  # the build shares the CPU cores with data loading and the CRF
                rows[-1].note = "; ".join(filter(None, [rows[-1].note, "beside mmcv's build"]))
        if rows[-1].status == "ok":
            done.add(part.name)
        print(f"{part.name}: {rows[-1].status} {rows[-1].note}".rstrip(), flush=True)
    by_part = {r.part: r for r in rows if r.status == "ok"}
    if "determinism" in by_part and "train_cam" in by_part:
        ratio = by_part["determinism"].per_unit / by_part["train_cam"].per_unit
        by_part["determinism"].note += f", {ratio:.2f}x the time per image of train_cam"
    spent = time.perf_counter() - start
    projected = projection(rows)
    table = markdown(check, rows, projected, args.deadline, spent)
    (args.out / "gpu_check.md").write_text(table)
    raw = {
        "device": device_name(check.device),
        "host": machine(REPO),
        "tiny": args.tiny,
        "deadline_s": args.deadline,
        "spent_s": spent,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "rows": [{**asdict(r), "per_unit": r.per_unit if r.units else None} for r in rows],
        "projection": projected,
        "config": check.config,
    }
    (args.out / "gpu_check.json").write_text(json.dumps(raw, indent=1, default=str))
    print(table)


if __name__ == "__main__":
    main()
