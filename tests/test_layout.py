"""The repository's layout rules: one lesson, one place, and imports that point one way.

answer_key.basics <- answer_key.l2_linear_I <- ... <- answer_key.l6c_number_formats <- helper
(the front page); helper <- course (shared data and models) <- course.core <- course.lessons
(each lesson may import earlier ones) <- notebooks; tools/ may import anything of ours.
"""

import ast
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

import helper

# The answer key's modules, in lesson order: each may import only those before it.
ANSWER_KEY = [
    "basics",
    "l2_linear_I",
    "l3_linear_II",
    "l4a_integer_inference",
    "l4b_packing",
    "l4c_quantize_a_network",
    "l5a_calibration",
    "l6a_language_model",
    "l6b_gptq",
    "l6c_number_formats",
    "l7a_fast_inference",
    "l7b_qat",
]
# Each notebook and its lesson module (course/lessons/<lesson>.py).
LESSONS = {
    "L2_linear_I_quantize_dequantize_tensor": "l2a",
    "L2_linear_I_get_scale_and_zero_point": "l2b",
    "L3_linear_II_symmetric_vs_asymmetric": "l3a",
    "L3_linear_II_per_tensor": "l3b",
    "L3_linear_II_per_channel": "l3c",
    "L3_linear_II_per_group": "l3d",
    "L3_linear_II_quantizing_weights_and_activations": "l3e",
    "L4_integer_inference_W8A8": "l4a",
    "L4_packing_low_bit_weights": "l4b",
    "L4_quantize_a_trained_network": "l4c",
    "L5_calibration_and_clipping": "l5a",
    "L5_the_same_in_torchao": "l5b",
    "L6_quantize_a_language_model": "l6a",
    "L6_gptq": "l6b",
    "L6_number_formats": "l6c",
    "L7_fast_quantized_inference": "l7a",
    "L7_quantization_aware_training": "l7b",
}
# A lesson module past the bound splits by meaning into parts, ``<lesson>_<part>.py``, each
# importing only earlier lessons and the parts before it (l7b_plots imports l7b).
LESSON_FILES = sorted(path.stem for path in (ROOT / "course" / "lessons").glob("l*.py"))
# The shared modules of the course package: they import neither the core nor a lesson.
SHARED = {"data", "models", "language_model", "texts", "torchao_bridge", "timing"}
# Third-party modules that the answer key may import: the maths needs nothing else.
ANSWER_KEY_THIRD_PARTY = {"torch", "numpy"}
# The longest a code file may grow before it is split by meaning; helper.py is a front page.
MAX_LINES = 500
MAX_HELPER_LINES = 300
CODE_DIRS = ("answer_key", "course", "tools", "benchmarks")


def imported_modules(path) -> set[str]:
    """Every module that the file ``path`` imports, at any depth (``from a import b``: a, a.b)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def ours(path, prefix: str) -> set[str]:
    """The modules under ``prefix`` (a package) that ``path`` imports, by their last name."""
    names = set()
    for module in imported_modules(path):
        if module.startswith(prefix + "."):
            names.add(module[len(prefix) + 1 :].split(".")[0])
    return names


def test_the_answer_key_has_one_module_per_lesson_group_and_a_test_file_each():
    modules = {path.stem for path in (ROOT / "answer_key").glob("*.py")} - {"__init__"}
    assert modules == set(ANSWER_KEY)
    for name in ANSWER_KEY:
        assert (ROOT / "tests" / "answer_key" / f"test_{name}.py").exists(), name


@pytest.mark.parametrize("index", range(len(ANSWER_KEY)), ids=ANSWER_KEY)
def test_an_answer_key_module_imports_only_basics_and_earlier_lessons(index):
    path = ROOT / "answer_key" / f"{ANSWER_KEY[index]}.py"
    assert ours(path, "answer_key") <= set(ANSWER_KEY[:index])
    top_level = {module.split(".")[0] for module in imported_modules(path)}
    third_party = top_level - set(sys.stdlib_module_names) - {"__future__", "answer_key"}
    assert third_party <= ANSWER_KEY_THIRD_PARTY, sorted(third_party)


def test_helper_imports_only_the_answer_key():
    top_level = {module.split(".")[0] for module in imported_modules(ROOT / "helper.py")}
    assert top_level <= {"answer_key"}, sorted(top_level)


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


def test_helper_re_exports_every_public_name_of_the_answer_key():
    assert len(set(helper.__all__)) == len(helper.__all__)
    assert all(hasattr(helper, name) for name in helper.__all__)
    for name in ANSWER_KEY:
        tree = ast.parse((ROOT / "answer_key" / f"{name}.py").read_text())
        public = {
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
        }
        assert public <= set(helper.__all__), (name, sorted(public - set(helper.__all__)))


def test_the_core_imports_no_lesson_and_the_shared_modules_neither():
    for path in (ROOT / "course" / "core").glob("*.py"):
        assert not ours(path, "course.lessons"), path.name
        assert not imported_modules(path) & {"course.lessons"}, path.name
    for name in SHARED:
        path = ROOT / "course" / f"{name}.py"
        assert not ours(path, "course.lessons") and not ours(path, "course.core"), name
        # a shared module imports only other shared modules of ours (timing: the one-thread runs)
        assert ours(path, "course") <= SHARED, (name, sorted(ours(path, "course") - SHARED))


def test_the_course_package_is_its_core_its_lessons_and_the_shared_modules():
    flat = {path.stem for path in (ROOT / "course").glob("*.py")} - {"__init__"}
    assert flat == SHARED
    lessons = {path.stem for path in (ROOT / "course" / "lessons").glob("*.py")} - {"__init__"}
    assert set(LESSONS.values()) <= lessons
    for part in lessons - set(LESSONS.values()):  # a part of a lesson's module: l7b_plots
        match = re.fullmatch(r"(l[2-9][a-e])_[a-z]+", part)
        assert match and match[1] in LESSONS.values(), part


@pytest.mark.parametrize("lesson", LESSON_FILES)
def test_a_lesson_imports_only_earlier_lessons(lesson):
    imported = ours(ROOT / "course" / "lessons" / f"{lesson}.py", "course.lessons")
    assert all(other < lesson for other in imported), sorted(imported)


@pytest.mark.parametrize("notebook", sorted(LESSONS))
def test_each_notebook_imports_helper_and_its_own_lesson_module_and_has_their_tests(notebook):
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    source = "\n".join(
        cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
    )
    lesson = LESSONS[notebook]
    assert (ROOT / "course" / "lessons" / f"{lesson}.py").exists()
    assert (ROOT / "tests" / "lessons" / f"test_{lesson}.py").exists(), f"test_{lesson}.py"
    assert re.search(r"^import helper$", source, re.MULTILINE)
    assert re.search(
        rf"^from course\.lessons import {lesson}(, {lesson}_[a-z]+)*$", source, re.MULTILINE
    )
    others = set(re.findall(r"\bl[2-9][a-e](?:_[a-z]+)?\.", source)) - {f"{lesson}."}
    others = {other for other in others if not other.startswith(f"{lesson}_")}  # its parts
    assert not others, f"{notebook} calls another lesson's module: {sorted(others)}"


def test_every_notebook_is_a_lesson():
    assert {path.stem for path in (ROOT / "notebooks").glob("*.ipynb")} == set(LESSONS)


def test_no_code_file_is_past_its_bound():
    assert len((ROOT / "helper.py").read_text().splitlines()) <= MAX_HELPER_LINES
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines"
