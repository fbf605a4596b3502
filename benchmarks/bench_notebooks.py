"""How long does each lesson take to run top to bottom, once its kernel has started?

    python benchmarks/bench_notebooks.py

Each notebook runs in a fresh python3 kernel (nothing is saved); the time printed excludes the
kernel's start-up and includes `import torch`. The course's target is 5 s per lesson.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TARGET_SECONDS = 5.0


def run_seconds(path: Path) -> float:
    """Seconds to execute every cell of ``path`` in a kernel that is already up."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        return time.perf_counter() - start


def main() -> None:
    print(f"{'lesson':58} {'seconds':>8}  target <= {TARGET_SECONDS:.0f} s")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        seconds = run_seconds(path)
        verdict = "ok" if seconds <= TARGET_SECONDS else "SLOW"
        print(f"{path.name:58} {seconds:8.2f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
