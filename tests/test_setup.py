"""The set-up a learner meets: the supported Pythons, the commands without make, the honest
browser-test summary, and the workflow CI runs on GitHub."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import NO_BROWSER, ROOT, make_variable

SUPPORTED = ((3, 11), (3, 12), (3, 13))
PYENV = Path.home() / ".pyenv" / "versions"


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


def test_readme_without_make_runs_what_the_makefile_runs():
    dry_run = make("-n", "-B", "lab", "lint", "unit", "browser")
    assert dry_run.returncode == 0, dry_run.stderr
    by_make = commands(dry_run.stdout)
    bash = set().union(*(commands(block) for block in readme_blocks("bash")))
    powershell = set().union(*(commands(block) for block in readme_blocks("powershell")))
    assert bash == by_make
    setup_and_lab = {c for c in by_make if c[:2] in (("-m", "pip"), ("-m", "jupyter"))}
    assert powershell == setup_and_lab


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
    assert "PIP_EXTRA_INDEX_URL: https://download.pytorch.org/whl/cpu" in workflow
    assert "cache: pip" in workflow


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
