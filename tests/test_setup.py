"""The set-up a learner meets: the supported Pythons, the two pinned sets (what the lessons need,
and the maintainers' tools on top), the CPU build of torch, the commands without make, the honest
browser-test summary, and the workflow CI runs on GitHub."""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from conftest import NO_BROWSER, NOTEBOOKS, ROOT, make_variable
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

SUPPORTED = ((3, 11), (3, 12), (3, 13))
PYENV = Path.home() / ".pyenv" / "versions"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The maintainers' tools, which a learner's .venv never gets.
TEST_TOOLS = (
    "pytest",
    "pytest-xdist",
    "nbval",
    "hypothesis",
    "playwright",
    "ruff",
    "check-jsonschema",
    "zizmor",
    "coverage",
)


def pins(file: str) -> dict[str, str]:
    """What a requirements file pins itself (not through `-r`): canonical name to version."""
    found = {}
    for line in (ROOT / file).read_text().splitlines():
        line = line.partition("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            found[canonicalize_name(name)] = version
    return found


LEARNER, DEV = pins("requirements.txt"), pins("requirements-dev.txt")


def make(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def commands(text: str) -> set[tuple[str, ...]]:
    """The `python -m ...` commands of some shell text, each as its arguments after `-m`, with
    the options that change nothing the learner gets (quiet output, running as root) left out."""
    found = set()
    for line in text.replace("\\", "/").splitlines():
        if not line.startswith((".venv/bin/python ", ".venv/Scripts/python.exe ")):
            continue
        words = shlex.split(line)
        if "-m" in words:
            kept = [w for w in words[words.index("-m") :] if w not in ("--quiet", "--allow-root")]
            found.add(tuple(kept))
    return found


def readme_blocks(language: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    without_make = readme[readme.index("### Without make") :]
    return re.findall(rf"```{language}\n(.*?)```", without_make, re.DOTALL)


def dry_run(*arguments: str) -> list[str]:
    """The lines `make -n -B` prints for a fresh .venv."""
    result = make("-n", "-B", *arguments)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_readme_without_make_runs_what_the_makefile_runs():
    # The bash blocks: the learner's set-up (with the CPU build's line), JupyterLab, the tests.
    by_make = commands("\n".join(dry_run("lab", "lint", "unit", "browser", "TORCH=cpu")))
    bash = set().union(*(commands(block) for block in readme_blocks("bash")))
    assert bash == by_make
    # PowerShell: the learner's set-up and JupyterLab (PyPI's torch is the CPU build on Windows).
    setup_and_lab = {
        c
        for c in commands("\n".join(dry_run("lab")))
        if c[:2] in (("-m", "pip"), ("-m", "jupyter"))
    }
    powershell = set().union(*(commands(block) for block in readme_blocks("powershell")))
    assert powershell == setup_and_lab


def test_make_lab_installs_the_learner_set_and_make_test_the_tools_on_top():
    lab = "\n".join(dry_run("lab"))
    assert "-r requirements.txt" in lab
    assert "requirements-dev.txt" not in lab
    assert "-r requirements-dev.txt" in "\n".join(dry_run("test"))
    # On a learner's .venv (its stamp kept as it is), make test adds the tools without a rebuild.
    upgrade = make("-n", "-o", ".venv/.installed-lab", "-W", "requirements-dev.txt", "unit")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "-r requirements-dev.txt" in upgrade.stdout
    assert "rm -rf .venv" not in upgrade.stdout
    assert "-r requirements.txt" not in upgrade.stdout


def test_torch_cpu_installs_the_pinned_torch_alone_from_pytorchs_cpu_index():
    lines = dry_run("lab", "TORCH=cpu")
    (cpu,) = [line for line in lines if CPU_INDEX in line]
    words = shlex.split(cpu)
    assert words[words.index("--index-url") + 1] == CPU_INDEX
    assert "--no-deps" in words
    assert words[-1] == f"torch=={LEARNER['torch']}" == "torch==2.13.0"
    # torch first: requirements.txt then finds it installed, and takes nothing else from there.
    assert lines.index(cpu) < next(
        i for i, line in enumerate(lines) if "-r requirements.txt" in line
    )
    assert not any(CPU_INDEX in line for line in dry_run("lab", "lint", "unit", "browser"))
    wrong = make("-n", "lab", "TORCH=cuda")
    assert wrong.returncode != 0
    assert "TORCH=cuda is not a choice: TORCH=cpu takes PyTorch's CPU build" in wrong.stderr


def imported_packages(paths: list[Path]) -> set[str]:
    """The top-level names that some Python files and notebooks import, the standard library's
    and the course's own left out."""
    found = set()
    for path in paths:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
        else:
            sources = [path.read_text()]
        for source in sources:
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    found.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    found.add(node.module.partition(".")[0])
    own = {path.stem for path in ROOT.glob("*/*.py")} | {
        "helper",
        "course",
        "answer_key",
        "conftest",
    }
    return found - set(sys.stdlib_module_names) - own


def unpinned(modules: set[str], pinned: dict[str, str]) -> set[str]:
    """Those of some top-level modules whose distribution is not pinned."""
    distributions = metadata.packages_distributions()
    return {
        module
        for module in modules
        if not any(canonicalize_name(d) in pinned for d in distributions.get(module, ()))
    }


def test_the_learner_set_has_every_package_the_lessons_import():
    lessons = [*NOTEBOOKS, ROOT / "helper.py", *sorted((ROOT / "course").glob("*.py"))]
    imported = imported_packages(lessons)
    assert {"torch", "torchao", "numpy", "matplotlib", "ipywidgets", "sklearn"} <= imported
    assert not unpinned(imported, LEARNER)
    # What runs them: JupyterLab, the kernel, and setuptools for the course's editable install.
    assert {"jupyterlab", "ipykernel", "setuptools"} <= LEARNER.keys()


def test_the_learner_set_holds_no_test_tool():
    tools = {canonicalize_name(tool) for tool in TEST_TOOLS}
    assert tools <= DEV.keys()
    assert not tools & LEARNER.keys()
    # The tools' set adds to the learner set and pins nothing twice.
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert not LEARNER.keys() & DEV.keys()
    # What the tests, tools and benchmarks import is pinned in one set or the other.
    maintainers = sorted(
        p for d in ("tests", "tools", "benchmarks") for p in (ROOT / d).glob("*.py")
    )
    assert not unpinned(imported_packages(maintainers), LEARNER | DEV)


def missing_dependencies(pinned: dict[str, str]) -> set[str]:
    """What the pinned packages, as installed here, require on Linux (with the extras asked for)
    that is not pinned. What other platforms alone need is pip's to add there (appnope on macOS,
    colorama and pywinpty on Windows), and so are the CUDA libraries of PyPI's torch on Linux,
    which torch pins itself and its CPU build does without."""
    linux = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    missing, seen = set(), set()
    wanted = [(name, "") for name in pinned]
    while wanted:
        name, extra = wanted.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for line in metadata.requires(name) or ():
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None:
                applies = not extra  # counted once, with no extra
            else:
                applies = marker.evaluate({**linux, "extra": extra}) and not (
                    extra and marker.evaluate({**linux, "extra": ""})
                )
            cuda = name == "torch" and "platform_system" in str(marker)
            if not applies or cuda:
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency not in pinned:
                missing.add(f"{dependency} (for {name})")
            wanted += [(dependency, e) for e in requirement.extras]
    return missing


def test_both_sets_hold_every_dependency_of_what_they_pin():
    assert not missing_dependencies(LEARNER)
    assert not missing_dependencies(LEARNER | DEV)


def test_every_pin_is_what_the_venv_has():
    # The pins are a pip freeze: this .venv, built from them, has exactly those versions (the
    # CPU build's torch, 2.13.0+cpu, is 2.13.0).
    installed = {name: Version(metadata.version(name)).public for name in LEARNER | DEV}
    assert installed == {name: str(Version(version)) for name, version in (LEARNER | DEV).items()}


def test_readme_creates_the_venv_with_the_version_it_names():
    (bash, *_), (powershell,) = readme_blocks("bash"), readme_blocks("powershell")
    assert bash.splitlines()[0] == "python3 -m venv .venv"
    assert re.fullmatch(r"py -3\.1[123] -m venv \.venv", powershell.splitlines()[0])


def test_makefile_and_pyproject_accept_python_3_11_to_3_13():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in make_variable("SUPPORTED")


@pytest.mark.parametrize("version", [(3, 10), *SUPPORTED])
def test_the_version_check_refuses_others_clearly(version):
    found = sorted(PYENV.glob(f"{version[0]}.{version[1]}.*/bin/python{version[0]}.{version[1]}"))
    if not found:
        pytest.skip(f"no Python {version[0]}.{version[1]} on this machine")
    result = make("check-python", f"PYTHON={found[-1]}")
    if version in SUPPORTED:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "The course needs Python 3.11, 3.12 or 3.13 (found 3.10" in result.stderr


def run_browser_test_without_a_browser(ci: bool) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment["CHROMIUM"] = str(ROOT / "no-such-browser")
    if ci:
        environment["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_browser.py"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_a_browser_the_last_line_says_the_browser_test_did_not_run():
    result = run_browser_test_without_a_browser(ci=False)
    assert result.returncode == 0, result.stdout[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-1].strip() == NO_BROWSER
    assert "skipped" in lines[-2]
    assert "JupyterLab" not in result.stdout  # no server was started for nothing


def test_without_a_browser_under_ci_the_run_fails():
    result = run_browser_test_without_a_browser(ci=True)
    assert result.returncode != 0
    assert "CI must run the browser test" in result.stdout


def test_the_workflow_tests_three_pythons_with_least_permissions():
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    matrix = re.findall(r"- os: (\S+)\n\s+python: \"(\S+)\"", workflow)
    assert matrix == [
        ("ubuntu-latest", "3.11"),
        ("ubuntu-latest", "3.13"),
        ("macos-latest", "3.12"),
    ]
    assert "permissions:\n  contents: read" in workflow
    assert "persist-credentials: false" in workflow
    # Linux takes the CPU build as a learner without a GPU does; the cache follows both sets.
    assert "run: make test PYTHON=python TORCH=cpu" in workflow
    assert "cache: pip" in workflow
    assert (
        "cache-dependency-path: |\n            requirements.txt\n            requirements-dev.txt\n"
        in workflow
    )


def test_the_workflow_passes_its_schema_and_zizmor_offline():
    binaries = Path(sys.executable).parent
    schema = [str(binaries / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    workflows = sorted(str(path) for path in (ROOT / ".github" / "workflows").glob("*.yml"))
    checked = subprocess.run([*schema, *workflows], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    zizmor = shutil.which("zizmor", path=str(binaries))
    config = str(ROOT / ".github" / "zizmor.yml")
    audit = subprocess.run(
        [zizmor, "--offline", "--config", config, str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
