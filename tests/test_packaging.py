"""tkd installs as a package: a wheel installed outside the checkout runs the commands, and the
rules' conda environment lists exactly the dependencies pyproject.toml declares."""
import os
import shutil
import site
import subprocess
import sys
import venv

import pytest
import yaml

from helpers import REPO


def test_the_conda_environment_lists_pyprojects_dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {d for d in project["dependencies"] if not d.startswith("snakemake")}  # the rules run inside it
    wanted |= set(project["optional-dependencies"]["tensorboard"])
    env = yaml.safe_load((REPO / "envs" / "tkd.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) == wanted
    assert "--editable ." in (REPO / "envs" / "tkd.post-deploy.sh").read_text(), "the env installs tkd itself"


def test_nothing_inserts_the_repository_into_sys_path():
    for path in [REPO / "Snakefile", *(REPO / "workflow").rglob("*.py"), *(REPO / "workflow").rglob("*.smk")]:
        assert "sys.path" not in path.read_text(), path


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_runs_plan_and_status(tmp_path):
    """Build the wheel, install it (without dependencies: this environment's are borrowed through a
    .pth line) in a fresh venv, and run the commands from a folder outside the checkout."""
    source, wheels = tmp_path / "source", tmp_path / "wheels"  # built from a copy: no build/ in the checkout
    shutil.copytree(REPO / "tkd", source / "tkd", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(wheels), str(source)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(wheels.glob("tkd-*.whl"))
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    out = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True).stdout.strip()
    with open(os.path.join(target, "borrowed.pth"), "w") as f:  # dependencies: this environment's
        f.write("\n".join(site.getsitepackages()) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run([str(python), "-c", "import tkd; print(tkd.__file__)"], capture_output=True, text=True,
                           cwd=work, env=clean)
    assert str(env) in where.stdout, f"the wheel's tkd, not the checkout's: {where.stdout} {where.stderr}"
    printed = {}
    for args in (["plan", "--simulations", "1", "--results", str(work / "results")],
                 ["status", "--results", str(work / "results")]):
        out = subprocess.run([str(env / "bin" / "tkd"), *args], capture_output=True, text=True, cwd=work, env=clean,
                             timeout=600)
        assert out.returncode == 0, (args, out.stderr[-2000:])
        printed[args[0]] = out.stdout
    assert "# Designs on 64 GPUs" in printed["plan"], "the wheel's config.yaml, with its 64 GPUs"


def test_the_wheel_holds_every_file_the_package_reads(tmp_path):
    """Built from a copy of the checkout (about a second): every file under tkd/ that is not Python
    (the config schema, templates, config.yaml, claims and reported numbers) is in the wheel."""
    import zipfile

    source, wheels = tmp_path / "source", tmp_path / "wheels"
    shutil.copytree(REPO / "tkd", source / "tkd", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(wheels), str(source)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    held = set(zipfile.ZipFile(next(wheels.glob("tkd-*.whl"))).namelist())
    data = {p.relative_to(source).as_posix() for p in (source / "tkd").rglob("*")
            if p.is_file() and p.suffix != ".py"}
    assert "tkd/grid/schemas/config.schema.yaml" in data and data <= held, sorted(data - held)
