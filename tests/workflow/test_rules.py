"""The rule files themselves: what a dry run imports, each rule's log, benchmark and resources, the
local rules, and the demo-world switch."""

import json
import re
import subprocess
import sys
import warnings

import pytest
from workflow_helpers import place_released_files, shipped, snakemake_command

from wsss.clip_source import OPENAI_CLIP_MODELS, clip_checkpoint_input

# The rules that take a second or so, and the downloads: a cluster runs them beside Snakemake, not as
# a job each.
LOCAL_RULES = {
    "write_config",
    "list_dataset",
    "summarize_dataset",
    "draw_demo_world",
    "report_demo_clip",
    "gather_cams",
    "gather_ir_labels",
    "gather_pseudo_labels",
    "gather_eval_seg",
    "report_results",
    "report_resources",
    "download_archive",  # not small: a cluster's compute nodes often have no internet
}

# `snakemake -n` as the snakemake command runs it (snakemake.cli.main), in one process that notes
# where torch is first imported and, once the dry run is over, what the workflow's rules declare.
PROBE = r"""
import json, sys, traceback


class TorchProbe:
    stack = None

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch" and TorchProbe.stack is None:
            TorchProbe.stack = "".join(traceback.format_stack()[:-1])
        return None  # the import itself goes on as usual


sys.meta_path.insert(0, TorchProbe())
from snakemake.cli import main
from snakemake.workflow import Workflow

workflows = []
construct = Workflow.__init__


def capture(self, *args, **kwargs):
    construct(self, *args, **kwargs)
    workflows.append(self)


Workflow.__init__ = capture
report, sys.argv = sys.argv[1], ["snakemake", *sys.argv[2:]]
try:
    main()
    code = 0
except SystemExit as exit:
    code = exit.code
workflow = workflows[0]
rules = {
    rule.name: {
        "log": [str(path) for path in rule.log],
        "benchmark": None if rule.benchmark is None else str(rule.benchmark),
        "resources": sorted(rule.resources),
        "conda": rule.conda_env is not None,
        "local": rule.name in workflow._localrules,  # a dry run's job lines leave locality out
    }
    for rule in workflow.rules
}
torch = {"imported": "torch" in sys.modules, "from": TorchProbe.stack}
with open(report, "w") as file:
    json.dump({"exit": code, "torch": torch, "rules": rules}, file)
"""


def probe(tmp_path, config: dict, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    report = tmp_path / "probe.json"
    command = snakemake_command(tmp_path, config, *args)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *command[1:]], capture_output=True, text=True, timeout=600
    )
    assert report.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(report.read_text()), result


@pytest.fixture(scope="module", params=["demo", "voc12"])
def dry_run(request, tmp_path_factory):
    """A dry run of a shipped config: the demo (demo world and CLIP) and VOC (OpenAI's CLIP, IRN)."""
    workdir = tmp_path_factory.mktemp(request.param)
    config = place_released_files(workdir, shipped(request.param))
    found, result = probe(workdir, config, "-n")
    assert found["exit"] == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return config, found


def test_a_dry_run_imports_no_torch(dry_run):
    """Every `snakemake -n` parses the rule files: importing torch there costs seconds and a gigabyte."""
    torch = dry_run[1]["torch"]
    assert not torch["imported"], f"torch imported while parsing the workflow, from:\n{torch['from']}"


def test_every_rule_has_its_log_benchmark_software_and_resources(dry_run):
    config, found = dry_run
    results = f"{config.get('results_dir', 'results')}/{config['run_name']}"
    rules = {name: rule for name, rule in found["rules"].items() if name != "all"}
    assert {"train_clims", "gather_cams", "gather_ir_labels", "gather_pseudo_labels", "make_demo_world"} <= set(rules)
    for name, rule in rules.items():
        assert len(rule["log"]) == 1 and rule["benchmark"], name
        job = rule["log"][0].removeprefix(f"{results}/logs/").removesuffix(".log")
        assert rule["log"][0] == f"{results}/logs/{job}.log", name
        assert rule["benchmark"] == f"{results}/benchmarks/{job}.tsv", name
        assert job == name or job.startswith(f"{name}_{{"), name  # named after the rule (and its wildcards)
        assert rule["conda"] and {"mem_mb", "runtime"} <= set(rule["resources"]), name


def test_the_small_rules_and_only_they_are_local(dry_run):
    rules = dry_run[1]["rules"]
    local = (
        LOCAL_RULES if "download_archive" in rules else LOCAL_RULES - {"download_archive"}
    )  # made when data is missing
    assert {name for name, rule in rules.items() if rule["local"] and name != "all"} == local


def test_openai_clip_names_are_the_clip_package_s_own():
    with warnings.catch_warnings():  # openai-clip imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        import clip

    assert list(OPENAI_CLIP_MODELS) == clip.available_models()
    assert clip_checkpoint_input("ViT-B/16") == []
    assert clip_checkpoint_input("weights/demo_clip.pt") == ["weights/demo_clip.pt"]


@pytest.mark.parametrize(
    "name, demo_world, root, message",
    [
        ("demo", True, "data/elsewhere", r"dataset.demo_world is true but dataset.root \(data/elsewhere\) is not"),
        ("demo", False, None, r"dataset.demo_world is false but dataset.root is demo_world.root \(data/demo_world\)"),
        ("voc12", True, None, r"dataset.demo_world is true but dataset.root \(data/voc12_aug\) is not"),
    ],
    ids=["demo-world-elsewhere", "demo-root-switched-off", "voc-switched-on"],
)
def test_the_demo_world_switch_must_agree_with_the_dataset_root(tmp_path, name, demo_world, root, message):
    """make_demo_world writes demo_world.root: the switch and the roots either both say demo world or neither."""
    config = shipped(name)
    config["dataset"]["demo_world"] = demo_world
    if root is not None:
        config["dataset"]["root"] = root
    result = subprocess.run(snakemake_command(tmp_path, config, "-n"), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "ConfigError" in output and f"{tmp_path / 'run_config.yaml'}: " in output
    assert re.search(message, output), output[-3000:]
