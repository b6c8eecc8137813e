"""Every command the README shows runs as written, or is listed here with what stands in for it."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

FOLDER_COMMAND = (
    "snakemake --cores all --configfile configs/folder.yaml --config 'folder={images: my_photos, classes: [cat, dog]}'"
)
# How each README command is checked. "run": as written, in a copy of the repository; "dry run": as
# written with -n (the run itself is what the micro run and the demo do); "make -n": the target's
# commands, which the other entries run; "report": as written before any run, which must refuse with
# its reason; anything else: why it does not run here.
COMMANDS = {
    "make demo": "make -n",
    "make test": "this suite itself (CI runs it through .ci/run)",
    "make setup": "make -n",
    "make lint": "run",
    "make rehearse": "make -n",
    "source .venv/bin/activate": "run",
    "snakemake --cores all": "dry run",
    "snakemake --cores all --configfile configs/micro.yaml": "dry run",
    "snakemake -n": "run",
    "snakemake --report": "report",
    "snakemake --report results/demo/report.html": "report",
    "snakemake --use-conda": "needs conda, which this machine and CI lack",
    "conda env create -f environment.yml": "needs conda, which this machine and CI lack",
    "MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0 pydensecrf2==1.1 && pip install --no-deps -e .": (
        "the conda route's last step (tools/setup_env.sh, which CI runs, installs the same packages)"
    ),
    "python tools/seed_spread.py run --seeds 0 1 2 --cores 2": "five demo runs (test_seed_spread runs it on micro)",
    "snakemake --cores all --configfile configs/voc12.yaml": (
        "downloads VOC and SBD and needs the released res50_cam.pth (test_fetch runs its download rules and dry run)"
    ),
    "snakemake --cores all --configfile configs/voc12.yaml configs/voc12_clip_es.yaml": (
        "downloads VOC and SBD and needs OpenAI's ViT-B/16 (test_seed_sources dry-runs it on a tiny VOC)"
    ),
    "make demo-folder": "make -n",
    "python stages/predict.py": (
        "a stage's command line, shown without its arguments (tests/models/test_segmenter.py runs predict)"
    ),
    FOLDER_COMMAND: (
        "needs OpenAI's ViT-B/16 and a folder of photos (test_folder_mode dry-runs configs/folder.yaml and runs "
        "folder mode on micro)"
    ),
    "snakemake --cores all --configfile configs/coco14.yaml": (
        "downloads COCO and needs the released res50_cam_coco.pth (test_fetch runs its download rules and dry run)"
    ),
}
INLINE = re.compile(r"`((?:[A-Z_]+=\S+ )*(?:snakemake|make|python|source|pip|bash|conda) [^`]*)`")


def readme_commands() -> set[str]:
    """Each command line of the README's code blocks (comments cut), and each command in inline code."""
    text = (REPO / "README.md").read_text()
    commands = set()
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            command = re.split(r"\s+#", line)[0].strip()
            if command:
                commands.add(command)
    commands.update(match.strip() for match in INLINE.findall(text))
    return commands


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The tracked files of the repository and a .venv whose bin/ is this environment's: what a user has
    after `make setup`. Its setup stamp is new, so no make target reinstalls into the real environment."""
    folder = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name)
    (folder / ".venv").mkdir()
    (folder / ".venv" / "bin").symlink_to(os.path.dirname(sys.executable))
    (folder / ".venv" / ".setup-complete").touch()
    return folder


def shell(command: str, folder) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, env=env, timeout=600)


def test_every_readme_command_is_checked_here():
    assert readme_commands() == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_readme_command_runs_as_written(command, checkout):
    how = COMMANDS[command]
    if how == "make -n":
        result = shell(f"{command} -n", checkout)
    elif how == "dry run":
        result = shell(f"{command} -n", checkout)
        assert "Job stats:" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    elif how == "run":
        result = shell(command, checkout)
    elif how == "report":
        result = shell(command, checkout)
        assert result.returncode != 0 and "not up to date" in result.stderr, result.stderr[-3000:]
        assert "--report-after-run" in result.stderr and not (checkout / "results" / "demo" / "report.html").exists()
        return
    else:
        pytest.skip(how)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
