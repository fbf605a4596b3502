"""Re-run the lessons under strict nbval as other machines would run them, and name every cell
whose output differs, with the machine it differs on.

    python tools/check_machines.py                        # every lesson, every emulated machine
    python tools/check_machines.py notebooks/L6_gptq.ipynb
    python tools/check_machines.py --machine avx2 notebooks/L2_*.ipynb
    python tools/check_machines.py --native               # this machine as it is, too

A stored output is a promise that every learner sees it: on an AVX-512 server, an AVX2 laptop,
an ARM Mac. Those machines round float32 work differently: PyTorch picks a vectorized kernel per
instruction set (``ATEN_CPU_CAPABILITY`` forces one), MKL picks a code path for its matrix
products (``MKL_CBWR`` forces one), and the number of threads decides how sums are split.
Each emulated machine below sets all three, so a result that depends on any of them fails here,
on the maintainer's machine, rather than on a learner's. ``make test`` runs it after the native
nbval run (``make machines`` alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Machine(NamedTuple):
    """An emulated machine: its name and the environment variables that make this one act so."""

    name: str
    env: dict[str, str]

    def describe(self) -> str:
        settings = " ".join(f"{key}={value}" for key, value in self.env.items())
        return f"{self.name} ({settings})" if settings else self.name


MACHINES = (
    Machine(
        "no vector units, one thread",
        {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1"},
    ),
    Machine(
        "AVX2, two threads",
        {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "OMP_NUM_THREADS": "2"},
    ),
)
NATIVE = Machine("this machine", {})
SHORT_NAMES = {"default": MACHINES[0], "avx2": MACHINES[1]}
# AVX2 and MKL's code paths exist on x86 only; elsewhere (an ARM Mac) that machine is skipped.
ON_X86 = platform.machine().lower() in ("x86_64", "amd64")


class Difference(NamedTuple):
    """One cell whose stored output a machine did not reproduce."""

    machine: Machine
    cell: str  # "notebooks/L2_....ipynb::Cell 19", as nbval names it
    message: str


def failures(junit_xml: Path, machine: Machine) -> list[Difference]:
    """The failed or errored test cases of a pytest JUnit report, as differences on ``machine``."""
    found = []
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            cell = f"{case.get('classname', '').replace('.', '/')}::{case.get('name')}"
            cell = cell.replace("/ipynb::", ".ipynb::")
            found.append(Difference(machine, cell, (problem.text or "").strip()))
    return found


def run(machine: Machine, notebooks: list[Path], workers: int = 2) -> list[Difference]:
    """Strict nbval over ``notebooks`` in a fresh process that acts as ``machine``."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            *(["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []),
            *map(str, notebooks),
        ]
        env = {**os.environ, **machine.env}
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if not report.is_file():
            message = result.stdout[-2000:] + result.stderr[-2000:]
            return [Difference(machine, "(pytest did not run)", message)]
        return failures(report, machine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson")
    parser.add_argument("--machine", choices=sorted(SHORT_NAMES), action="append")
    parser.add_argument("--native", action="store_true", help="run this machine as it is too")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    machines = [SHORT_NAMES[name] for name in args.machine] if args.machine else list(MACHINES)
    if not ON_X86 and SHORT_NAMES["avx2"] in machines:
        print(f"{SHORT_NAMES['avx2'].describe()}: skipped, this is not an x86 machine")
        machines.remove(SHORT_NAMES["avx2"])
    machines = [NATIVE, *machines] if args.native else machines
    differences = []
    for machine in machines:
        found = run(machine, notebooks, args.workers)
        verdict = f"{len(found)} cell(s) differ" if found else "every cell as stored"
        print(f"{machine.describe()}: {verdict}", flush=True)
        differences += found
    for difference in differences:
        print(f"\n{difference.cell} differs on {difference.machine.describe()}:")
        print(difference.message[-1500:])
    if differences:
        print(
            f"\n{len(differences)} stored output(s) do not hold on every machine: make the "
            "result the same by construction (see CONTRIBUTING.md, 'Numbers that hold on "
            "every machine'), never by a tag."
        )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
