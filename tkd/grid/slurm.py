"""`tkd slurm-check`: will this site run the grid? Ask before submitting hundreds of jobs.

Each check prints one paragraph (wrapped to 100 columns), ``ok``, ``warn`` or ``error``, and
every problem comes with its fix. The training request tested with ``sbatch --test-only`` is the largest one of
the grid, exactly as the workflow would submit it.
"""
from __future__ import annotations

import getpass
import shutil
import subprocess
from dataclasses import dataclass, field

from .. import terminal


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, level: str, text: str) -> None:
        self.lines.append((level, text))
        print(terminal.prose(f"{level:5} {text}", indent=" " * 6), flush=True)

    @property
    def failed(self) -> bool:
        return any(level == "error" for level, _ in self.lines)


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


def training_requests(configfiles: list[str]) -> list[dict]:
    """One sbatch request per architecture of the enabled grid, as the train rule asks for it."""
    from .config import load
    from . import archs_used

    config = load(configfiles)
    return [dict(config["archs"][a]["resources"], arch=a) for a in archs_used(config)]


def sbatch_args(req: dict, partition: str | None, account: str | None, gpu_model: str | None) -> list[str]:
    args = ["-t", str(req["runtime"]), "--mem", str(req["mem_mb"])]
    if req["gpu"]:
        gpus = f"{gpu_model}:{req['gpu']}" if gpu_model else str(req["gpu"])
        args += [f"--gpus={gpus}", f"--cpus-per-gpu={req['cpus_per_gpu']}"]
    else:
        args += ["--ntasks=1", "--cpus-per-task=1"]
    if partition:
        args += ["-p", partition]
    if account:
        args += ["-A", account]
    return args


def check(configfiles: list[str], partition: str | None = None, account: str | None = None,
          gpu_model: str | None = None) -> Report:
    """Whether this cluster can run the grid's training jobs: tools, partition, accounting, and
    each architecture's request tried with ``sbatch --test-only``."""
    requests = training_requests(configfiles)  # bad config fails before any SLURM command runs
    rep = Report()
    missing = [t for t in ("sinfo", "sbatch", "scontrol", "squeue") if not shutil.which(t)]
    if missing:
        rep.add("error", f"SLURM client tools not found ({', '.join(missing)}): run this on a login node, "
                         "or install your site's SLURM client")
        return rep
    chosen = _check_partitions(rep, partition)
    if chosen is False:
        return rep
    _check_accounting(rep, account)
    for req in requests:
        _check_request(rep, req, chosen, account, gpu_model)
    return rep


def _check_partitions(rep: Report, partition: str | None):
    """The partition jobs go to (None if there is none), or False when sinfo fails."""
    parts = _run("sinfo", "-h", "-o", "%P|%a|%l|%D|%G|%c|%m")
    if parts.returncode:
        rep.add("error", f"sinfo failed: {parts.stderr.strip()} — is slurmctld reachable from here?")
        return False
    rows = [line.split("|") for line in parts.stdout.splitlines() if line.strip()]
    names = [r[0].rstrip("*") for r in rows]
    default = next((r[0].rstrip("*") for r in rows if r[0].endswith("*")), None)
    for name, avail, limit, nodes, gres, cpus, mem in rows:
        rep.add("ok", f"partition {name}: {avail}, time limit {limit}, {nodes} nodes, GRES {gres}, "
                      f"{cpus} CPUs and {mem} MB per node")
    chosen = partition or default
    if partition and partition not in names:
        rep.add("error", f"partition {partition!r} does not exist; choose one of {names} "
                         "(slurm_partition in your site profile)")
    elif not chosen:
        rep.add("error", "no default partition: set slurm_partition in your site profile (see docs/slurm.md)")
    gpu_parts = [r[0].rstrip("*") for r in rows if "gpu" in r[4]]
    if not gpu_parts:
        rep.add("warn", "no partition offers GRES gpu: training would run on CPUs; set gpu: 0 per arch in config "
                        "or ask your admins which partition has GPUs")
    elif chosen and chosen not in gpu_parts:
        rep.add("warn", f"partition {chosen!r} has no GPUs; GPU partitions: {gpu_parts}")
    return chosen


def _check_accounting(rep: Report, account: str | None) -> None:
    """Which status command works, and whether the account (if any) is the user's."""
    conf = _run("scontrol", "show", "config")
    storage = next((line.split("=", 1)[1].strip() for line in conf.stdout.splitlines()
                    if line.startswith("AccountingStorageType")), "unknown")
    if "none" in storage:
        rep.add("warn", "accounting is off (AccountingStorageType=accounting_storage/none): sacct cannot report job "
                        "states; run with --slurm-status-command squeue")
        if not account:
            rep.add("ok", "no accounting, so no account is needed: add --slurm-no-account")
        return
    rep.add("ok", f"accounting is on ({storage}): the default status command (sacct) works")
    user = getpass.getuser()
    assoc = _run("sacctmgr", "-n", "-P", "show", "assoc", f"user={user}", "format=account,partition,qos")
    accounts = sorted({line.split("|")[0] for line in assoc.stdout.splitlines() if line.strip()})
    if assoc.returncode or not accounts:
        rep.add("error", f"no account association found for user {user!r}: ask your admins, or set "
                         "slurm_account in your site profile")
    elif account and account not in accounts:
        rep.add("error", f"account {account!r} is not associated with {user!r}; yours: {accounts}")
    else:
        rep.add("ok", f"accounts of {user}: {accounts}")


def _check_request(rep: Report, req: dict, partition: str | None, account: str | None,
                   gpu_model: str | None) -> None:
    """One architecture's training job, tried with ``sbatch --test-only``."""
    args = sbatch_args(req, partition, account, gpu_model)
    test = _run("sbatch", "--test-only", *args, "--wrap", "true")
    request = " ".join(args)
    if test.returncode:
        why = (test.stderr or test.stdout).strip().splitlines()[-1] if (test.stderr or test.stdout) else "?"
        rep.add("error", f"a {req['arch']} training job cannot be scheduled (sbatch --test-only {request}): "
                         f"{why}. Fix: lower archs.{req['arch']}.resources in config, or choose another "
                         "partition (--partition / slurm_partition)")
    else:
        rep.add("ok", f"a {req['arch']} training job can be scheduled: sbatch {request}")
