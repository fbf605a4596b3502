"""Re-execute lesson notebooks in place, each in a fresh kernel, so their stored outputs are
exactly what a run prints (what nbval then compares against).

    python tools/refresh_notebooks.py                 # every notebook in notebooks/
    python tools/refresh_notebooks.py notebooks/L2_*.ipynb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive prints to one stream: the kernel may send them in one message or two."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def refresh(path: Path) -> float:
    """Execute ``path`` top to bottom in a new python3 kernel and save it; return the seconds."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    notebook.metadata.pop("widgets", None)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            for output in cell.outputs:
                # A live widget's view names a random model id whose state is not stored: it
                # could only show "model not found". Its text form stays; the lesson's static
                # snapshot next to it is the stored picture.
                output.get("data", {}).pop(WIDGET_VIEW, None)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all lessons)")
    paths = parser.parse_args(argv).paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {refresh(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
