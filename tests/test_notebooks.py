"""Hygiene of the lesson notebooks: what nbval alone would not catch."""

import ast
import itertools
import json
import re
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from conftest import NOTEBOOKS, ROOT

LESSONS = [
    "L2_linear_I_quantize_dequantize_tensor.ipynb",
    "L2_linear_I_get_scale_and_zero_point.ipynb",
    "L3_linear_II_symmetric_vs_asymmetric.ipynb",
    "L3_linear_II_per_tensor.ipynb",
    "L3_linear_II_per_channel.ipynb",
    "L3_linear_II_per_group.ipynb",
    "L3_linear_II_quantizing_weights_and_activations.ipynb",
]
NBVAL_TAGS = {"nbval-ignore-output", "raises-exception", "nbval-skip"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(path: Path) -> list[dict]:
    return [cell for cell in load(path)["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_course_lesson_is_there():
    assert set(LESSONS) <= {path.name for path in NOTEBOOKS}


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook(request) -> Path:
    return request.param


def test_python3_kernelspec(notebook):
    kernelspec = load(notebook)["metadata"]["kernelspec"]
    assert kernelspec["name"] == "python3" and kernelspec["language"] == "python"


def test_executed_in_order_from_a_fresh_kernel(notebook):
    counts = [cell["execution_count"] for cell in code_cells(notebook) if source(cell).strip()]
    assert counts == list(range(1, len(counts) + 1)), "run `make refresh` to re-execute it"


def test_no_error_outputs(notebook):
    for cell in code_cells(notebook):
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{output.get('ename')}: {source(cell)}"
            assert not (output.get("name") == "stderr" and "Traceback" in "".join(output["text"]))


def test_no_sys_path_edits(notebook):
    assert not [cell for cell in code_cells(notebook) if "sys.path" in source(cell)]


def test_nbval_marks_are_tags_on_live_widgets_with_the_reason_in_the_markdown(notebook):
    """nbval's marks are cell tags, never comments a learner sees; an output is ignored only
    where it cannot repeat (a live widget, a timing), and the markdown before says why."""
    cells = load(notebook)["cells"]
    for index, cell in enumerate(cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        assert not re.search(r"#\s*(NBVAL|PYTEST_VALIDATE)_", source(cell)), "use a cell tag"
        assert tags <= NBVAL_TAGS, f"unknown tags {tags - NBVAL_TAGS}"
        assert "nbval-skip" not in tags, "cells are never skipped"
        if "nbval-ignore-output" in tags:
            assert re.search(r"\bl[2-9][a-e]\.explore_\w+\(|perf_counter|timeit", source(cell))
            previous = [c for c in cells[:index] if c["cell_type"] == "markdown"][-1]
            assert "not compared" in source(previous), "say why the output is not compared"


def test_lesson_shape(notebook):
    """Title, objectives, helper, a picture, a widget, a checked exercise and a recap."""
    cells = load(notebook)["cells"]
    markdown = "\n".join(source(cell) for cell in cells if cell["cell_type"] == "markdown")
    code = "\n".join(source(cell) for cell in code_cells(notebook))
    assert source(cells[0]).startswith("# ")
    for heading in ("objective", "your turn", "recap"):
        assert heading in markdown.lower(), f"no '{heading}' section"
    assert "$" in markdown, "the idea's formula, in LaTeX"
    assert re.search(r"^(import helper|from helper import)", code, re.MULTILINE)
    assert re.search(r"\bl[2-9][a-e]\.explore_\w+\(", code), "a widget to play with"
    assert re.search(r"\bl[2-9][a-e]\.check_\w+\(", code), "an exercise checker"
    assert any(
        "image/png" in output.get("data", {})
        for cell in code_cells(notebook)
        for output in cell["outputs"]
    ), "at least one picture"


def test_images_the_markdown_shows_exist(notebook):
    markdown = "\n".join(
        source(cell) for cell in load(notebook)["cells"] if cell["cell_type"] == "markdown"
    )
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (notebook.parent / image).resolve().is_file(), image


def test_ruff_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Decimal numbers a lesson's prose may quote without an output showing them: constants that
# no cell prints, each with its reason. Everything else must come from the lesson's outputs.
PROSE_CONSTANTS = {
    "L4_integer_inference_W8A8.ipynb": {"2.13": "the torch version the lesson was written for"},
    "L5_the_same_in_torchao.ipynb": {"7.5": "(q_max - q_min) / 2 of int4, worked out in the text"},
    "L5_calibration_and_clipping.ipynb": {
        "127.5": "PyTorch's symmetric divisor for int8, (q_max - q_min) / 2, shown in lesson L5-B",
        "0.99": "the second of helper.CLIP_RATIOS (1.00, 0.99, ..., 0.05), listed in the text",
    },
    "L3_linear_II_symmetric_vs_asymmetric.ipynb": {
        "0.25": "8 / 32, an 8-bit zero point's share of a group of 32, worked out in the text",
    },
}
PROSE_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\d.]*\d)(\s*%)?")
OUTPUT_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")
SECTION_NUMBER = re.compile(r"^#+\s*[\d.]+\s", re.MULTILINE)


def printed_as(value: Decimal, quoted: Decimal) -> bool:
    """Whether ``value`` prints as ``quoted`` at the quoted number's precision."""
    step = Decimal(1).scaleb(quoted.as_tuple().exponent)
    return any(
        value.quantize(step, rounding) == quoted for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN)
    )


def test_every_number_the_prose_quotes_is_an_output_of_the_lesson(notebook):
    """Every decimal number in the markdown (1.57, 0.857 %, 170.9) appears, at its printed
    precision, in an output of the same lesson (a percentage also as a fraction), or in its
    code (a value the lesson sets, such as a scale of 3.5), or in PROSE_CONSTANTS with a reason.
    Section numbers of headings (### 2.3) are not quotes."""
    cells = load(notebook)["cells"]
    outputs = "\n".join(
        "".join(output.get("text", ""))
        + "".join(
            "".join(value)
            for kind, value in output.get("data", {}).items()
            if kind.startswith("text/")
        )
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )
    printed = [Decimal(number) for number in OUTPUT_NUMBER.findall(outputs)]
    in_code = set(re.findall(r"\d+\.\d+", "\n".join(source(c) for c in code_cells(notebook))))
    allowed = PROSE_CONSTANTS.get(notebook.name, {})
    missing = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for match in PROSE_NUMBER.finditer(SECTION_NUMBER.sub("", source(cell))):
            quoted, percent = Decimal(match.group(1)), bool(match.group(2))
            candidates = printed + ([100 * value for value in printed] if percent else [])
            shown = any(printed_as(value, quoted) for value in candidates)
            if not shown and match.group(1) not in in_code and match.group(1) not in allowed:
                missing.append(match.group(0).strip())
    assert not missing, f"quoted in the prose but printed by no cell: {missing}"


# --- No hidden state: a name an earlier cell reads is never bound again -----------------------


def _names(node: ast.AST, context: type) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}


def cell_names(src: str) -> tuple[set[str], set[str]]:
    """(names the cell reads before it binds them, names it binds), at its top level. A
    function's body reads at call time, so its free names count as reads."""
    bound, free = set(), set()
    for statement in ast.parse(src).body:
        local = {
            name
            for node in ast.walk(statement)
            if isinstance(node, ast.comprehension)
            for name in _names(node.target, ast.Store)
        }
        local |= {
            argument.arg
            for node in ast.walk(statement)
            if isinstance(node, (ast.FunctionDef, ast.Lambda))
            for argument in node.args.args + node.args.kwonlyargs
        }
        stores = _names(statement, ast.Store) | {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(statement)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            free |= _names(statement, ast.Load) - stores - local - bound
            bound.add(statement.name)
            continue
        compound = isinstance(statement, (ast.For, ast.While, ast.With, ast.If, ast.Try))
        free |= _names(statement, ast.Load) - local - bound - (stores if compound else set())
        bound |= stores - local
    return free, bound


def violations(cells: list[str]) -> list[tuple]:
    """(name, first binding cell, second binding cell, the cells reading it in between)."""
    info = [cell_names(cell) for cell in cells]
    found = []
    for name in set().union(*(bound for _, bound in info)):
        binders = [i for i, (_, bound) in enumerate(info) if name in bound]
        for first, second in itertools.pairwise(binders):
            readers = [r for r in range(first + 1, second + 1) if name in info[r][0]]
            if readers:
                found.append((name, first, second, readers))
    return found


def test_no_cell_rebinds_a_name_that_an_earlier_cell_reads(notebook):
    """Re-running any cell gives the same result: no name is bound in two cells when a cell in
    between (or the second one itself) reads it (a loop variable or a helper's local does not
    count: only names a cell reads before it binds them)."""
    assert not violations([source(cell) for cell in code_cells(notebook)])


def test_the_rebinding_check_finds_what_it_should():
    assert violations(["x = 1", "print(x)", "x = 2"]) == [("x", 0, 2, [1])]
    assert violations(["s = 1", "s = s * 2"]) == [("s", 0, 1, [1])]
    assert not violations(["for d in (0, 1):\n    print(d)", "d = 0", "print(d)"])
    assert not violations(["q = 1", "def f(q):\n    return q", "q = 2"])


def test_markdown_cells_are_short(notebook):
    """A learner reads a lesson a screen at a time: no markdown cell over 300 words."""
    for cell in load(notebook)["cells"]:
        if cell["cell_type"] == "markdown":
            words = len(source(cell).split())
            assert words <= 300, f"{words} words: {source(cell)[:60]!r}"
