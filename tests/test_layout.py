"""The repository's layout rules: helper.py is maths only, and imports point one way.

helper (the maths) <- course.data <- course.plots <- course.figures, course.checks,
course.model_plots; and course.plots <- course.live_plots <- course.live_view <- course.explorer
<- course.widgets,
course.model_widgets, which nothing imports.
"""

import ast
import subprocess
import sys

import pytest
from conftest import ROOT

import helper

# What each module of the course may import, of helper and the package.
ALLOWED = {
    "helper": {"answer_key.l7a_fast_inference"},  # its re-exports, until issue 27's front page
    "answer_key.l7a_fast_inference": {"helper"},
    "course.data": {"helper"},
    "course.models": {"course.data"},
    "course.plots": {"helper", "course.data"},
    "course.figures": {"helper", "course.data", "course.plots"},
    "course.model_plots": {"helper", "course.plots", "course.language_model"},
    "course.checks": {"helper", "course.data"},
    "course.model_checks": {"helper", "course.checks", "course.language_model"},
    "course.torchao_checks": {"course.checks", "course.data", "course.torchao_bridge"},
    "course.torchao_bridge": set(),
    "course.observers": {"helper"},
    "course.language_model": {"helper"},
    "course.formats": {"helper"},
    "course.format_plots": {"helper", "course.formats", "course.plots"},
    "course.gptq_runs": {"helper", "course.language_model"},
    "course.live_plots": {"helper", "course.plots"},
    "course.live_view": {"course.live_plots"},
    "course.explorer": {"course.plots", "course.live_plots", "course.live_view"},
    "course.widget_parts": {"helper", "course.plots", "course.explorer"},
    "course.widgets": {
        "helper",
        "course.data",
        "course.plots",
        "course.live_plots",
        "course.explorer",
        "course.widget_parts",
        "course.formats",
        "course.models",
        "course.torchao_bridge",
    },
    "course.model_widgets": {
        "helper",
        "course.data",
        "course.gptq_runs",
        "course.models",
        "course.plots",
        "course.live_plots",
        "course.explorer",
        "course.language_model",
        "course.observers",
        "course.widget_parts",
    },
    "course.lessons.l7a": {
        "helper",
        "course.language_model",
        "course.checks",
        "course.explorer",
        "course.live_plots",
        "course.plots",
    },
}
# Third-party modules that helper.py may import: the maths needs nothing else.
HELPER_THIRD_PARTY = {"torch", "numpy"}
# The longest a module may grow before it is split. helper.py: the lessons L2-A to L6-A take about
# 1,400 lines, docstrings in full and checks at the end; L6-B's GPTQ about 230 more, L6-C's
# number formats about 250 more.
MAX_LINES = {"helper": 1900, "course": 600}


def module_path(name: str):
    return ROOT / (name.replace(".", "/") + ".py")


def imported_modules(name: str, path=None) -> set[str]:
    """Every module that ``name``'s source (or the file ``path``) imports, at any depth."""
    tree = ast.parse((path or module_path(name)).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_module_of_the_package_has_rules():
    package = {
        f"{folder.replace('/', '.')}.{path.stem}"
        for folder in ("course", "course/lessons", "answer_key")
        for path in (ROOT / folder).glob("*.py")
        if path.stem != "__init__"
    }
    assert package == set(ALLOWED) - {"helper"}


@pytest.mark.parametrize("name", ALLOWED)
def test_imports_point_one_way(name):
    ours = {
        module
        for module in imported_modules(name)
        if module == "helper" or module.startswith(("course.", "answer_key."))
    }
    ours = {module for module in ours if module in ALLOWED}  # `from course.x import y` -> x
    assert ours <= ALLOWED[name], f"{name} imports {sorted(ours - ALLOWED[name])}"


WIDGET_MODULES = {"course.widgets", "course.model_widgets"}


def test_nothing_imports_the_widgets():
    importers = [name for name in ALLOWED if WIDGET_MODULES & imported_modules(name)]
    assert not importers
    for path in (ROOT / "tools").glob("*.py"):
        assert not WIDGET_MODULES & imported_modules("", path), path


@pytest.mark.parametrize("name", ["helper", "answer_key.l7a_fast_inference"])
def test_the_answer_key_imports_only_the_standard_library_torch_and_numpy(name):
    top_level = {module.split(".")[0] for module in imported_modules(name)}
    third_party = top_level - set(sys.stdlib_module_names) - {"__future__", "helper", "answer_key"}
    assert third_party <= HELPER_THIRD_PARTY, sorted(third_party)


def test_import_helper_loads_no_plotting_nor_widget_library():
    code = (
        "import sys, helper; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'matplotlib', 'ipywidgets', 'IPython', 'course', 'PIL', 'sklearn'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


def test_helper_declares_all_and_every_public_definition_is_in_it():
    tree = ast.parse(module_path("helper").read_text())
    public = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }
    assert public <= set(helper.__all__)
    assert all(hasattr(helper, name) for name in helper.__all__)
    assert len(set(helper.__all__)) == len(helper.__all__)


def test_modules_stay_short():
    assert len(module_path("helper").read_text().splitlines()) <= MAX_LINES["helper"]
    for path in (ROOT / "course").glob("*.py"):
        assert len(path.read_text().splitlines()) <= MAX_LINES["course"], path.name
    for path in [*(ROOT / "answer_key").glob("*.py"), *(ROOT / "course/lessons").glob("*.py")]:
        assert len(path.read_text().splitlines()) <= 500, path.name  # the new layout's bound
