"""Package discovery: every package under avss_bench/ and avss_models/, plus the data folders
recipes/ and manifests/ installed inside avss_bench, so a new folder can never be left out of
the wheel. The commit a distribution is built from is recorded in it
(`avss_bench/_build_commit.txt`), so an installed wheel's results stamps name it. Everything
else about the distribution is in pyproject.toml."""

import subprocess
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

DATA_FOLDERS = {"avss_bench.recipes": "recipes", "avss_bench.manifests_data": "manifests"}
HERE = Path(__file__).resolve().parent
#: Read by avss_bench.core.provenance.git_commit outside a checkout.
COMMIT_FILE = Path("avss_bench") / "_build_commit.txt"


def data_packages(name: str, folder: str) -> list[str]:
    """`name` and one package per subfolder of `folder` (data-only folders need no __init__)."""
    return [name] + [f"{name}.{sub}" for sub in find_namespace_packages(where=folder)
                     if "__pycache__" not in sub]


def source_commit() -> str | None:
    """The checkout's commit (`-dirty` when tracked files changed), else the one an unpacked
    sdist recorded, else None."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=HERE, capture_output=True, text=True, check=True).stdout
        if (Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE,
                                capture_output=True, text=True, check=True).stdout.strip())
                == HERE and commit):
            return f"{commit}-dirty" if dirty.strip() else commit
    except (OSError, subprocess.SubprocessError):
        pass
    recorded = HERE / COMMIT_FILE
    if recorded.is_file():
        return recorded.read_text().strip() or None
    return None


class BuildPyWithCommit(build_py):
    def run(self) -> None:
        super().run()
        commit = source_commit()
        if commit and not self.editable_mode:
            target = Path(self.build_lib) / COMMIT_FILE
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(commit + "\n")


class SdistWithCommit(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        commit = source_commit()
        if commit:
            target = Path(base_dir) / COMMIT_FILE
            target.unlink(missing_ok=True)  # may be a hard link to the source tree's copy
            target.write_text(commit + "\n")


packages = [p for p in find_namespace_packages(include=["avss_bench*", "avss_models*"])
            if "__pycache__" not in p]
for name, folder in DATA_FOLDERS.items():
    packages += data_packages(name, folder)

setup(packages=packages, package_dir=DATA_FOLDERS,
      cmdclass={"build_py": BuildPyWithCommit, "sdist": SdistWithCommit})
