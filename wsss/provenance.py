"""What decides a run's numbers besides its config: library versions, threads, the CPU, the commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np


def cpu_model() -> str:
    """The CPU's model name (floating-point results differ between CPU types)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def project_commit() -> str:
    """The project's git commit, with '+changes' when the work tree differs from it; 'unknown' outside git."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def run_record() -> dict:
    """Seeds are in each stage's settings; this is the rest of what makes two runs comparable.

    The torch entries are None in a stage that does not use torch (it is not imported for them).
    """
    record = {
        "commit": project_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu_model(),
        "torch": None,
        "cpu_native_bf16": None,
        "torch_threads": None,
        "cuda": None,
    }
    if "torch" in sys.modules:
        import torch

        from wsss.device import cpu_has_native_bf16

        record.update(
            torch=torch.__version__,
            cpu_native_bf16=cpu_has_native_bf16(),  # decides whether 'bf16-autocast' runs bf16 on this CPU
            torch_threads=torch.get_num_threads(),
            cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        )
    return record
