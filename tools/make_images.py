"""Generate the lessons' figures: every ``figures.figure_<name>()`` (tools/figures.py) becomes
``images/<name>.png``.

    python tools/make_images.py            # into images/
    python tools/make_images.py OUT_DIR    # elsewhere (the test compares the two, byte for byte)

A figure function takes no arguments, is seeded where it draws random numbers, and returns a
matplotlib Figure. The PNGs carry no timestamp, so the same code gives the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import figures

IMAGES = Path(__file__).resolve().parent.parent / "images"
DPI = 100


def figure_functions() -> dict[str, object]:
    """``{name: function}`` for every ``figures.figure_<name>``."""
    return {
        name.removeprefix("figure_"): getattr(figures, name)
        for name in sorted(dir(figures))
        if name.startswith("figure_") and callable(getattr(figures, name))
    }


def make_images(out_dir: Path = IMAGES) -> list[Path]:
    """Write every figure to ``out_dir`` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in figure_functions().items():
        path = out_dir / f"{name}.png"
        function().savefig(path, dpi=DPI, metadata={"Software": None})
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in make_images(Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGES):
        print(written_path)
