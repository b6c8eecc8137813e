"""A one-node SLURM on localhost (Debian's munge, slurmctld, slurmd), for tests and for trying the
cluster profile: everything (keys, config, spool, logs, pid files) lives in one folder.

    python tools/local_slurm.py start /tmp/slurm      # prints the SLURM_CONF to export
    SLURM_CONF=/tmp/slurm/slurm.conf sinfo
    python tools/local_slurm.py stop /tmp/slurm

Needs root (the daemons run as root) and ``apt-get install slurmctld slurmd slurm-client munge``.
Snakemake's jobstep executor drops SLURM_CONF before its srun inside each job, so SLURM's
commands there read /etc/slurm/slurm.conf: the cluster links that to its own config while it runs
(and refuses to start when another file is there).
No accounting database: ``sacct`` has no data, so Snakemake's SLURM executor is told to ask
``squeue`` (``--slurm-status-command squeue``; finished jobs stay visible for MinJobAge, 300 s).
The node claims 16 CPUs, 64 GB and one GPU (/dev/null standing in for its device) whatever the
machine has, so that jobs sized for a real cluster are accepted (GPU jobs one at a time); on a
machine without CUDA they run on the CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")  # stopped in this order
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
CPUS, MEMORY_MB = 16, 64000


def missing() -> str | None:
    """Why a local cluster cannot start here, or None when it can."""
    if os.geteuid() != 0:
        return "not root: the SLURM daemons run as root"
    absent = [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if absent:
        return f"missing {', '.join(absent)}: apt-get install slurmctld slurmd slurm-client munge"
    return None


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _config(folder: Path, host: str) -> str:
    return f"""ClusterName=wsss-local
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder / "munge.socket"}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.pid"}
SlurmctldLogFile={folder / "slurmctld.log"}
SlurmdLogFile={folder / "slurmd.log"}
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName={host} CPUs={CPUS} RealMemory={MEMORY_MB} Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def environment(folder: str | os.PathLike) -> dict[str, str]:
    """The environment in which SLURM's commands talk to this cluster."""
    return {**os.environ, "SLURM_CONF": str(Path(folder) / "slurm.conf")}


def _wait(condition, what: str, folder: Path, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError(f"{folder}: {what} within {seconds:.0f} s; see the *.log files there")
        time.sleep(0.2)


def start(folder: str | os.PathLike) -> Path:
    """Start munged, slurmctld and slurmd with their state in ``folder``; return the slurm.conf path.

    Returns once the node is idle and accepts jobs. Raises naming the folder when a daemon fails.
    """
    folder = Path(folder).resolve()
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    subprocess.run(
        [
            _program("munged"),
            "--force",
            f"--key-file={key}",
            f"--socket={folder / 'munge.socket'}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ],
        check=True,
        capture_output=True,
    )
    conf = folder / "slurm.conf"
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        raise RuntimeError(f"{SYSTEM_CONF} exists: a SLURM is configured here already (stop it, or remove the file)")
    conf.write_text(_config(folder, host))
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.symlink_to(conf)
    (folder / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")  # a stand-in device
    env = environment(folder)

    def idle() -> bool:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
        return states.strip() == "idle"

    try:
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_program(daemon), "-f", str(conf)], check=True, env=env, capture_output=True)
        _wait(idle, "the node did not become idle", folder)
    except (subprocess.CalledProcessError, RuntimeError):
        stop(folder)  # nothing left running
        raise
    return conf


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(folder: str | os.PathLike) -> list[int]:
    """Stop the daemons that :func:`start` started in ``folder``, each by the pid it recorded
    (SIGTERM, then SIGKILL after 10 s); return the pids stopped."""
    folder = Path(folder).resolve()
    stopped = []
    for daemon in DAEMONS:
        pid = _pid(folder / f"{daemon}.pid")
        if pid is None or not _alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < end:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped.append(pid)
    if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == folder / "slurm.conf":
        SYSTEM_CONF.unlink()
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", help="where the cluster keeps its keys, config, state and logs")
    args = parser.parse_args()
    if args.action == "start":
        why = missing()
        if why:
            raise SystemExit(f"cannot start a local SLURM: {why}")
        print(f"export SLURM_CONF={start(args.folder)}")
    else:
        print("stopped pids", *stop(args.folder))


if __name__ == "__main__":
    main()
