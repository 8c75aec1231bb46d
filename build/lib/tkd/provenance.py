"""Where a result came from: code version, packages, hardware, scheduler job."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("tkd", "torch", "torchvision", "timm", "numpy", "snakemake")


def _git(*args: str) -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect(device=None, **extra) -> dict:
    import torch

    status = _git("status", "--porcelain", "--untracked-files=no")
    info = {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device) if device is not None else None,
        "device_name": (torch.cuda.get_device_name(device) if device is not None and device.type == "cuda"
                        else f"CPU {_cpu_model()}"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    info.update(extra)
    return info


def git_state() -> dict[str, str]:
    """The commit of the code and whether it had uncommitted changes, as strings."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": _git("rev-parse", "HEAD") or "unknown",
            "dirty": "unknown" if status is None else str(bool(status))}


def render_report_metadata_as_html() -> None:
    """Make ``snakemake --report-metadata`` show each value under its name.

    Snakemake 9 (seen in 9.27) renders every string value of the metadata with docutils'
    ``publish_parts(value)`` and ships the whole parts dict (``whole``, ``encoding``,
    ``version``, ``errors``) to the landing page, whose script then lists those four keys
    instead of the value. This renders each value to its HTML body, as the report's captions
    are rendered. Called from ``workflow/report/metadata.yaml``, in the Snakemake process,
    just before Snakemake renders the metadata; a Snakemake whose report module differs is
    left alone.
    """
    import snakemake.report as report

    if not hasattr(report, "render_metadata"):
        return

    def html(value):
        from docutils.core import publish_parts

        return publish_parts(value, writer_name="html")["body"] if isinstance(value, str) else value

    def render_metadata(metadata: dict) -> None:
        for key, value in list(metadata.items()):
            metadata[key] = [html(v) for v in value] if isinstance(value, list) else html(value)

    report.render_metadata = render_metadata
