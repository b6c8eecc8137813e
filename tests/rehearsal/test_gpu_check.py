"""tools/gpu_check.py, the prepared GPU check, on the CPU at tiny sizes: every part runs through the
stages' own functions, the table and the projection come out, budgets stop what overruns."""

import json
import time

from conftest import load_tool

gpu_check = load_tool("gpu_check")


def test_every_part_runs_at_tiny_sizes_and_the_full_voc_run_is_projected(tmp_path):
    out = tmp_path / "out"
    gpu_check.main([str(out), "--tiny", "--deadline", "900", "--work", str(tmp_path / "work")])
    raw = json.loads((out / "gpu_check.json").read_text())
    rows = {row["part"]: row for row in raw["rows"]}
    assert list(rows) == [part.name for part in gpu_check.parts(raw["config"])]
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(rows, "ok")
    assert all(row["per_unit"] > 0 for row in rows.values())
    assert rows["train_cam"]["precision"] == "reference" and rows["train_cam mixed"]["precision"] == "bf16-autocast"
    assert rows["train_seg"]["precision"] == "fp32" and rows["train_seg mixed"]["precision"] == "amp"
    assert rows["determinism"]["note"].startswith("train_cam twice: equal weights")  # CPU kernels are deterministic
    projected = {p["rule"]: p for p in raw["projection"]}
    # train_cam is measured but not projected: the VOC run imports the released baseline instead.
    assert set(projected) == {
        "train_clims", "train_irn", "train_seg", "make_cam_clims_0", "make_cam_baseline_0",
        "ir_label_0", "make_pseudo_labels_0", "eval_seg_0", "make_clip_cams_clip_es_0", "make_clip_cams_maskclip_0",
    }  # fmt: skip
    assert projected["train_seg"]["units"] == 30000 and projected["make_cam_clims_0"]["units"] == 10582
    # CLIP-ES's seeds cover train_aug in its variant (the refined source), MaskCLIP's the seed split
    assert projected["make_clip_cams_clip_es_0"]["units"] == 10582
    assert projected["make_clip_cams_maskclip_0"]["units"] == 1464
    assert rows["clip_es"]["precision"] == "reference" and rows["clip_es mixed"]["precision"] == "fp32"
    table = (out / "gpu_check.md").read_text()
    assert "| train_irn mixed | bf16-autocast | ok |" in table and "total of the rules measured" in table
    assert raw["config"]["train_cam"]["crop_size"] == 64 and raw["config"]["segmenter"]["model"] == "deeplabv2"


def test_a_part_past_its_budget_is_stopped_and_a_broken_one_named(tmp_path):
    check = type("Check", (), {"device": gpu_check.pick_device()})()
    start = time.perf_counter()
    slow = gpu_check.run_part(check, gpu_check.Part("slow", 1, lambda c: time.sleep(30)), budget=0.5)
    assert slow.status == "over budget" and time.perf_counter() - start < 5

    def broken(c):
        raise ValueError("no such file\nsecond line")

    failed = gpu_check.run_part(check, gpu_check.Part("broken", 1, broken), budget=5)
    assert failed.status == "failed" and failed.note == "ValueError: no such file"


def test_the_segmenter_parts_say_why_mmcv_is_missing(tmp_path):
    status = tmp_path / "mmcv_build.status"
    assert gpu_check.segmenter_ready(status, wait=0.2).startswith("mmcv's build had not finished")
    status.write_text("1\n")
    assert gpu_check.segmenter_ready(status, wait=0) == "mmcv's build failed (exit 1, mmcv_build.log)"
    status.write_text("0\n")
    assert gpu_check.segmenter_ready(status, wait=0) == ""  # mmcv's ops import in this environment
