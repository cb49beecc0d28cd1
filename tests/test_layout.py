"""The package layout's rules (ARCHITECTURE.md): imports go down the layers, model packages use
only the model layer, and importing the library has no side effects."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "avss_bench"

#: Layer of each sub-package; a module may import only from its own layer or lower ones.
LAYERS = {
    "core": 0,
    "io": 1, "metrics": 1,
    "corpora": 2, "lips": 2, "models": 2, "data": 2,
    "prepare": 3, "train": 3, "evaluate": 3, "separate": 3,
    "demo": 4, "report": 4, "robustness": 4,
    "cli": 5,
}


def _imports(path: Path) -> list[str]:
    """Every absolute module name imported by a file (top level and inside functions)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_every_subpackage_has_a_layer() -> None:
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(LAYERS)
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]


def test_imports_go_down_the_layers() -> None:
    bad = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue
        layer = LAYERS[parts[0]]
        for name in _imports(path):
            pieces = name.split(".")
            if pieces[0] == "avss_models":
                bad.append(f"{path.relative_to(ROOT)} imports the model package {name}")
            if pieces[0] != "avss_bench" or len(pieces) < 2 or pieces[1] not in LAYERS:
                continue
            if LAYERS[pieces[1]] > layer:
                bad.append(f"{path.relative_to(ROOT)} imports {name} from a higher layer")
    assert not bad, "\n".join(bad)


def test_model_packages_use_only_the_model_layer() -> None:
    bad = []
    for folder in sorted(p for p in (ROOT / "avss_models").iterdir() if p.is_dir()):
        for path in folder.rglob("*.py"):
            for name in _imports(path):
                if name.startswith("avss_bench") and name != "avss_bench.models":
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


#: what a test of the start-up's own choice removes from the environment it inherits
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")


def test_importing_the_library_changes_no_environment_variable() -> None:
    code = ("import os, json; before = dict(os.environ); import avss_bench, avss_bench.cli, "
            "avss_bench.models; print(json.dumps(dict(os.environ) == before))")
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "true"


@pytest.mark.parametrize(("verb", "given", "expected"), [
    ("evaluate", {}, None),
    ("demo", {}, None),
    ("evaluate", {"OMP_WAIT_POLICY": "PASSIVE"},
     {"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": "PASSIVE"}),
    ("demo", {"GOMP_SPINCOUNT": "50"}, {"GOMP_SPINCOUNT": "50", "OMP_WAIT_POLICY": None}),
])
def test_the_cli_start_up_picks_the_openmp_wait_policy_unless_the_user_chose(
        verb: str, given: dict[str, str], expected: dict[str, str | None] | None) -> None:
    """What a command sets before torch loads: the user's choice, else the policy measured
    for this machine's load (`runtime.wait_policy`, the demo with its 2 threads)."""
    code = ("import contextlib, io, os, json\n"
            "from avss_bench.cli import main\n"
            "from avss_bench.core import runtime\n"
            "with contextlib.redirect_stdout(io.StringIO()), "
            "contextlib.suppress(SystemExit):\n"
            f"    main(['{verb}', '--help'])\n"
            "print(json.dumps([{k: os.environ.get(k) for k in "
            "('GOMP_SPINCOUNT', 'OMP_WAIT_POLICY')}, runtime.LAST_CHOICE]))")
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env={**env, **given},
                         capture_output=True, text=True, check=True)
    found, choice = json.loads(out.stdout)
    if expected is not None:
        assert found == expected and choice["reason"] == "set by the user"
        return
    from avss_bench.core.runtime import wait_policy

    assert choice["reason"] == "measured" and choice["busy_cores"] is not None
    assert choice["threads"] == (2 if verb == "demo" else None)
    policy = wait_policy(choice["threads"], choice["busy_cores"])
    assert {k: v for k, v in found.items() if v is not None} == policy


def test_wait_policy_sleeps_only_when_other_work_leaves_too_few_cores(monkeypatch) -> None:
    from avss_bench.core import runtime

    monkeypatch.setattr(runtime, "usable_cpus", lambda: {0, 1})
    spin, passive = {"GOMP_SPINCOUNT": "10000"}, {"OMP_WAIT_POLICY": "PASSIVE"}
    assert runtime.wait_policy(None, 0.0) == runtime.wait_policy(2, 0.2) == spin
    assert runtime.wait_policy(2, 0.9) == runtime.wait_policy(None, 1.0) == passive
    assert runtime.wait_policy(1, 0.9) == spin  # one thread, one free core
    assert runtime.wait_policy(1, 1.9) == passive
    assert runtime.wait_policy(8, 0.0) == spin  # more threads than cores: capped
    assert runtime.wait_policy(2, None) == spin  # not measurable (not Linux)


def test_other_busy_cores_sees_a_busy_process() -> None:
    from avss_bench.core.runtime import other_busy_cores

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = other_busy_cores(0.5)
    finally:
        hog.kill()
        hog.wait()
    assert busy is not None and busy >= 0.5


def test_scoring_a_split_never_imports_torch() -> None:
    """`score` (its verb module, the split scorer the Dask workers unpickle, the --metrics check)
    runs without paying for torch."""
    code = ("import sys, avss_bench.cli.score, avss_bench.evaluate.scoring; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _bundled_separators() -> set[str]:
    """The separator names this distribution registers (its entry points)."""
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="avss_bench.separators")
            if ep.dist is not None and ep.dist.name == "avss-bench"}


#: Where a bundled model's name may appear as a literal: the small models inside avss_bench
#: (their own modules) and the demo, which runs its models by name.
NAMING_ALLOWED = ("models/separators/", "demo/")


def test_the_library_names_no_bundled_model() -> None:
    """What a model is lives on its card: no string literal under avss_bench/ equals a bundled
    separator's name. `mixture` is checked where it can only mean the model (a comparison or a
    `model=` argument), since it is also the name of every mixed signal."""
    names = _bundled_separators()
    assert {"iianet", "rtfsnet", "tiny-av", "mixture"} <= names
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(NAMING_ALLOWED):
            continue
        tree = ast.parse(path.read_text())
        model_context = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                model_context |= {id(n) for n in [node.left, *node.comparators]}
            elif isinstance(node, ast.keyword) and node.arg in ("model", "name"):
                model_context.add(id(node.value))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if node.value in names - {"mixture"} or (node.value == "mixture"
                                                     and id(node) in model_context):
                bad.append(f"avss_bench/{rel}:{node.lineno} names '{node.value}'")
    assert not bad, "\n".join(bad)
