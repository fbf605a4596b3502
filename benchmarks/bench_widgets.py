"""How fast does each explore_* widget re-render when a control moves?

Builds every ``explore_*`` widget (of every lesson module, ``course.lessons.l2a`` ...),
drives each of its controls through ``CHANGES_PER_CONTROL`` values, and times each change:
from setting the control's ``.value`` in Python to the end of the synchronous observer (the
compute, the HTML, the PNG). Prints the median and 90th percentile per widget in
milliseconds, and whether they meet the course's targets: a median of at most 30 ms and a
90th percentile of at most 50 ms per change, in the kernel, so that the picture follows the hand.

Each widget is measured twice: every change a setting it has not shown (it forgets what it
showed before each change: the targets are for this), and as a hand moving back and forth,
where a value met again is shown as the widget remembers it (``Explorer.forget``).

Two places, on the same code path:
- "python": in this process, where the widgets have no front end (no comm messages);
- "kernel": in a fresh ipykernel (started with jupyter_client), where every change also
  serialises the widget's new state into comm messages, as in JupyterLab.

    python benchmarks/bench_widgets.py               # both measurements
    python benchmarks/bench_widgets.py --no-kernel   # this process only

A benchmark prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import ipywidgets

# Every explore_* builder, in lesson order (each from the lesson module that defines it).
MODULES = [
    importlib.import_module(f"course.lessons.{path.stem}")
    for path in sorted((Path(__file__).resolve().parent.parent / "course/lessons").glob("l*.py"))
]
BUILDERS = {
    name: builder
    for module in MODULES
    for name, builder in vars(module).items()
    if name.startswith("explore_") and builder.__module__ == module.__name__
}
CHANGES_PER_CONTROL = 20
MEDIAN_TARGET_MS, P90_TARGET_MS = 30.0, 50.0


def setters(control: ipywidgets.Widget, n: int) -> list:
    """``n`` zero-argument functions that each set ``control`` to a new value (a sweep)."""
    if isinstance(control, ipywidgets.widget_selection._Selection):
        count = len(control.options)
        indices = [(control.index + 1 + i) % count for i in range(n)]
        return [lambda i=i: setattr(control, "index", i) for i in indices]
    low, high = control.min, control.max
    values = [low + (high - low) * ((i * 7 + 3) % n) / (n - 1) for i in range(n)]
    if isinstance(control, ipywidgets.FloatLogSlider):
        values = [control.base**v for v in values]
    elif isinstance(control, ipywidgets.IntSlider):
        values = [round(v) for v in values]
    return [lambda v=v: setattr(control, "value", v) for v in values]


def time_widget(name: str, changes: int = CHANGES_PER_CONTROL, fresh: bool = True) -> list[float]:
    """Milliseconds of each control change of the widget ``BUILDERS[name]()``. ``fresh``: the
    widget forgets what it showed before each change, so that every change computes and draws
    (a setting seen for the first time); otherwise a value met again is shown as remembered."""
    explorer = BUILDERS[name]()
    times = []
    for control in explorer.controls.values():
        for set_value in setters(control, changes):
            if fresh:
                explorer.forget()
            start = time.perf_counter()
            set_value()
            times.append(1000 * (time.perf_counter() - start))
    return times


def summary(times: list[float]) -> dict:
    return {
        "median": statistics.median(times),
        "p90": statistics.quantiles(times, n=10)[8],
        "changes": len(times),
    }


def measure_all(changes: int = CHANGES_PER_CONTROL) -> dict[str, dict[str, dict]]:
    """Median and p90 (ms) of every widget's control changes, measured in this process: each
    change a new setting ("new"), and as a hand moving back and forth, values met again shown as
    remembered ("again")."""
    for name in BUILDERS:  # warm-up: imports, first figure draws, caches
        time_widget(name, 2)
    return {
        kind: {name: summary(time_widget(name, changes, fresh)) for name in BUILDERS}
        for kind, fresh in (("new", True), ("again", False))
    }


def measure_in_kernel(changes: int = CHANGES_PER_CONTROL) -> dict[str, dict[str, dict]]:
    """``measure_all`` run inside a fresh ipykernel, where widget changes send comm messages."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        code = (
            "import json, runpy\n"
            f"bench = runpy.run_path({str(Path(__file__).resolve())!r})\n"
            f"print(json.dumps(bench['measure_all']({changes})))"
        )
        lines = []

        def keep_stdout(message: dict) -> None:
            if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
                lines.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                lines.append("\n".join(message["content"]["traceback"]))

        reply = client.execute_interactive(code, timeout=600, output_hook=keep_stdout)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("the kernel measurement failed:\n" + "".join(lines))
        return json.loads("".join(lines))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def report(where: str, results: dict[str, dict]) -> bool:
    """Print one table of results; return whether every widget meets both targets."""
    print(f"\nRe-render time per control change, measured {where} (ms)")
    targets = f"targets <= {MEDIAN_TARGET_MS:.0f} / <= {P90_TARGET_MS:.0f}"
    print(f"{'widget':<34}{'changes':>8}{'median':>9}{'p90':>9}   {targets}")
    all_ok = True
    for name, row in results.items():
        ok = row["median"] <= MEDIAN_TARGET_MS and row["p90"] <= P90_TARGET_MS
        all_ok &= ok
        verdict = "meets both" if ok else "MISSES"
        print(f"{name:<34}{row['changes']:>8}{row['median']:>9.1f}{row['p90']:>9.1f}   {verdict}")
    return all_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-kernel", action="store_true", help="skip the ipykernel measurement")
    parser.add_argument("--changes", type=int, default=CHANGES_PER_CONTROL)
    args = parser.parse_args()
    places = {"in this Python process (no front end)": measure_all}
    if not args.no_kernel:
        places["in an ipykernel (comm messages sent)"] = measure_in_kernel
    for where, measure in places.items():
        results = measure(args.changes)
        report(f"{where}, every change a new setting", results["new"])
        report(f"{where}, values met again shown as remembered", results["again"])


if __name__ == "__main__":
    sys.exit(main())
