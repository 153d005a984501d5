"""The release as a newcomer gets it: the sdist and the wheel built from it, installed into a fresh venv,
and ``her2-cds demo`` run from the installed wheel outside the checkout.

Building and installing take a minute or two (the venv installs the dependencies from PyPI, or pip's
cache), so the whole path runs once per session in one fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]


@dataclass(frozen=True)
class Release:
    sdist: Path
    wheel: Path
    build_output: str
    python: Path  # the fresh venv's interpreter, with the wheel installed
    her2_cds: Path
    outside: Path  # a working directory far from the checkout


def clean_environment() -> dict[str, str]:
    """The environment without anything that would let the checkout leak into the installed package."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("HER2CDS_")}


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    work = tmp_path_factory.mktemp("release")
    dist = work / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],  # the wheel is built from the sdist
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_environment(),
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("her2_cds-*.tar.gz")
    (wheel,) = dist.glob("her2_cds-*.whl")
    environment = work / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    python = environment / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_environment(),
        cwd=work,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    outside = work / "elsewhere"
    outside.mkdir()
    return Release(sdist, wheel, built.stdout + built.stderr, python, environment / "bin" / "her2-cds", outside)


def run_installed(release: Release, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(release.her2_cds), *args], capture_output=True, text=True, timeout=300, cwd=release.outside, env=clean_environment()
    )


def test_the_installed_wheel_runs_the_demo_outside_the_checkout(release: Release) -> None:
    demo = run_installed(release, "demo", "--now", "2026-06-01")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "8 example patients evaluated on 2026-06-01." in demo.stdout
    assert "[CRITICAL] Possible visceral crisis" in demo.stdout  # the knowledge was read: cards, not just a count


def test_the_installed_wheel_reads_its_own_knowledge_not_the_checkout(release: Release) -> None:
    where = subprocess.run(
        [str(release.python), "-c", "import service, service.knowledge as k; print(service.__file__, k.default_mappings_dir())"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=release.outside,
        env=clean_environment(),
    )
    assert where.returncode == 0, where.stderr
    package_file, mappings = where.stdout.split()
    venv_root = str(release.python.parent.parent)
    assert package_file.startswith(venv_root) and mappings.startswith(venv_root), where.stdout
    assert mappings.endswith("service/mappings")


def test_version_comes_from_pyproject(release: Release) -> None:
    shown = run_installed(release, "--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"her2-cds {VERSION}"
    assert release.wheel.name.startswith(f"her2_cds-{VERSION}-")


def test_the_build_gives_no_setuptools_warnings(release: Release) -> None:
    for warning in ("SetuptoolsDeprecationWarning", "BuildBackendWarning", "is deprecated", "Installing '"):
        assert warning not in release.build_output, release.build_output[-3000:]


def test_the_sdist_and_the_wheel_carry_the_knowledge_and_the_licence(release: Release) -> None:
    with tarfile.open(release.sdist) as sdist:
        sdist_names = {Path(*Path(name).parts[1:]).as_posix() for name in sdist.getnames()}
    with zipfile.ZipFile(release.wheel) as wheel:
        wheel_names = set(wheel.namelist())
    for source in sorted((ROOT / "mappings").rglob("*")):
        if source.is_file():
            relative = source.relative_to(ROOT).as_posix()
            assert relative in sdist_names, relative
            assert "service/" + relative in wheel_names, relative
    assert "LICENSE" in sdist_names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names)
    for example in (ROOT / "service" / "examples").glob("*.json"):
        assert f"service/examples/{example.name}" in wheel_names
    for static in (ROOT / "service" / "static").iterdir():
        assert f"service/static/{static.name}" in wheel_names


def test_every_folder_of_the_package_is_listed_in_pyproject() -> None:
    """The package list is explicit (because of the mappings/ mapping): a new folder must be added to it."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(path.relative_to(ROOT).parts)
        for path in [ROOT / "service", *(ROOT / "service").rglob("*")]
        if path.is_dir() and path.name != "__pycache__" and any(child.is_file() for child in path.iterdir())
    }
    assert folders <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(folders - listed)}"


def test_the_licence_file_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()[1]
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_the_changelog_names_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{VERSION}]" in changelog, "CHANGELOG.md has no section for the version in pyproject.toml"
