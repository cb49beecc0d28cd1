"""Package discovery: every package under avss_bench/ and avss_models/, plus the data folders
recipes/ and manifests/ installed inside avss_bench, so a new folder can never be left out of
the wheel. Everything else about the distribution is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

DATA_FOLDERS = {"avss_bench.recipes": "recipes", "avss_bench.manifests_data": "manifests"}


def data_packages(name: str, folder: str) -> list[str]:
    """`name` and one package per subfolder of `folder` (data-only folders need no __init__)."""
    return [name] + [f"{name}.{sub}" for sub in find_namespace_packages(where=folder)
                     if "__pycache__" not in sub]


packages = [p for p in find_namespace_packages(include=["avss_bench*", "avss_models*"])
            if "__pycache__" not in p]
for name, folder in DATA_FOLDERS.items():
    packages += data_packages(name, folder)

setup(packages=packages, package_dir=DATA_FOLDERS)
