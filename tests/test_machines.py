"""tools/check_machines.py: the emulated machines catch an output that only holds on one CPU."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

_spec = importlib.util.spec_from_file_location("check_machines", ROOT / "tools/check_machines.py")
check_machines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_machines)

# torch draws float32 normals 16 at a time with vectorized log, sin and cos: their last bits
# depend on the instruction set. The course's data (float64 draws, rounded once) does not.
FRAGILE = "import torch\ntorch.manual_seed(0)\nprint(torch.randn(64).sum().item())"
STEADY = "from course import data\nprint(data.seeded_normal(0, 64).sum().item())"


def stored_notebook(directory: Path, sources: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    path = directory / "probe.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return stored_notebook(tmp_path_factory.mktemp("machines"), [FRAGILE, STEADY])


def test_a_vectorized_float32_result_differs_on_a_machine_without_vector_units(probe):
    differences = check_machines.run(check_machines.SHORT_NAMES["default"], [probe], workers=1)
    # nbval names a cell by its notebook's path from pytest's root directory, then its index.
    assert [difference.cell.rsplit("/", 1)[-1] for difference in differences] == [
        "probe.ipynb::Cell 0"
    ]
    assert "ATEN_CPU_CAPABILITY=default" in differences[0].machine.describe()


def test_the_report_names_the_machine_and_the_cell(probe, capsys):
    assert check_machines.main(["--machine", "default", "--workers", "1", str(probe)]) == 1
    out = capsys.readouterr().out
    assert "probe.ipynb::Cell 0 differs on no vector units, one thread" in out
    assert "Cell 1 differs" not in out


def test_every_machine_sets_the_instruction_set_the_matrix_library_and_the_threads():
    for machine in check_machines.MACHINES:
        assert {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "OMP_NUM_THREADS"} <= set(machine.env)
    assert len({machine.env["OMP_NUM_THREADS"] for machine in check_machines.MACHINES}) == 2
