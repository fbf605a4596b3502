"""Lesson L7-A, quantized inference that is faster: its timings, plots, widget and checker.

Everything here measures time on the machine it runs on, so its numbers change from run to run:
the lesson prints them in cells whose output is not compared, and the tests give the plots and
the widget fixed measurements. Timings are medians over repeats on one torch thread, each with
its spread (the slowest repeat minus the fastest).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import NullFormatter

import helper
from course import language_model
from course.core.checker import Verdict, check_exercise
from course.core.explorer import STYLE, Explorer, View, buttons
from course.core.live_view import Plot, PlotData
from course.core.plotting import DARK_GREEN, FP32, LINE_GREY, W8A32
from course.timing import Key, one_thread, run_times

# One colour per way of running a layer: fp32 as everywhere, dequantize-then-matmul as the
# course's W8A32 layer (it is one), the packed kernels in dark green.
WAYS = ("fp32", "dequantize-then-matmul", "packed kernel")
WAY_COLOURS = {"fp32": FP32, "dequantize-then-matmul": W8A32, "packed kernel": DARK_GREEN}
BITS_MARKERS = {32: "o", 8: "s", 4: "^"}


# --- Timing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """A median time in milliseconds over ``repeats`` runs, and their spread (max - min)."""

    ms: float
    spread: float
    repeats: int

    @classmethod
    def of(cls, runs: Sequence[float]) -> Timing:
        """The median and spread of ``runs`` (milliseconds, or any one unit)."""
        return cls(statistics.median(runs), max(runs) - min(runs), len(runs))


def time_call(function: Callable[[], object], repeats: int = 7) -> Timing:
    """``function()`` timed ``repeats`` times after one warm-up call, on one torch thread."""
    return Timing.of(time_interleaved({"call": function}, repeats)["call"])


def time_interleaved(
    functions: dict[Key, Callable[[], object]], repeats: int = 7
) -> dict[Key, list[float]]:
    """Milliseconds of each run of each function, in ``repeats`` rounds that call every function
    once in turn (after a warm-up call of each: ``course.timing.run_times``), on one torch thread
    and in inference mode: a change in the machine's load falls on all of them alike."""
    with one_thread(), torch.inference_mode():
        runs = run_times(functions, repeats)
    return {name: [1e3 * each for each in seconds] for name, seconds in runs.items()}


def time_bandwidth(megabytes: int = 128, repeats: int = 5) -> float:
    """How fast one thread reads memory, in bytes/s: the sum of ``megabytes`` MB of float32
    (more than a processor's caches hold), which reads each byte once and adds (cheap)."""
    values = torch.ones(megabytes * 2**20 // 4)
    timing = time_call(values.sum, repeats)
    return megabytes * 2**20 / (timing.ms / 1e3)


def time_peak_flops(size: int = 512, repeats: int = 5) -> float:
    """The arithmetic's speed in flops/s on one thread: a ``size`` x ``size`` float32 matrix
    product, which reuses every number it reads ``size`` times (far above the ridge)."""
    a = torch.full((size, size), 0.5)
    timing = time_call(lambda: a @ a, repeats)
    return 2 * size**3 / (timing.ms / 1e3)


# --- Layers, three ways ---------------------------------------------------------------------------


def square_layer(size: int, seed: int = 0) -> torch.nn.Linear:
    """A ``size`` x ``size`` linear layer without bias, seeded (float64 draws, the same bits on
    every machine), weights of standard deviation ``1 / sqrt(size)``."""
    generator = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(size, size, bias=False)
    weight = torch.randn(size, size, generator=generator, dtype=torch.float64) / size**0.5
    layer.weight.data = weight.float()
    return layer


def layer_ways(layer: torch.nn.Linear, bits: int) -> dict[str, torch.nn.Module]:
    """The layer as fp32, as the course's ``QuantizedLinear`` (dequantize then multiply) and as
    ``helper.pack_linear`` (the packed kernel): 8 bits per channel, 4 bits in groups of 32."""
    granularity, group = ("per-channel", None) if bits == 8 else ("per-group", 32)
    return {
        "fp32": layer,
        "dequantize-then-matmul": helper.QuantizedLinear.from_linear(
            layer, bits, granularity, group, torch.bfloat16
        ),
        "packed kernel": helper.pack_linear(layer, bits, group),
    }


@dataclass(frozen=True)
class LayerTiming:
    """One layer run one way: its size (in = out), bits (32 for fp32), batch, way, the bytes
    its weights take (what a call reads), and the time of a call."""

    size: int
    bits: int
    batch: int
    way: str
    n_bytes: int
    timing: Timing

    @property
    def flops(self) -> int:
        return helper.linear_flops(self.batch, self.size, self.size)


def time_layers(
    sizes: Sequence[int],
    bits: Sequence[int] = (8, 4),
    batches: Sequence[int] = (1,),
    repeats: int = 5,
) -> list[LayerTiming]:
    """Every layer size, bit width and batch, each way (fp32 once per size and batch); the ways
    of one size and batch in interleaved rounds (``time_interleaved``), so that their ratios
    see the same load."""
    found = []
    for size in sizes:
        layer = square_layer(size)
        modules = {(32, "fp32"): layer}
        for width in bits:
            ways = layer_ways(layer, width)
            modules |= {(width, way): ways[way] for way in WAYS[1:]}
        for batch in batches:
            x = torch.randn(batch, size, generator=torch.Generator().manual_seed(1))
            calls = {key: lambda m=module, x=x: m(x) for key, module in modules.items()}
            for (width, way), runs in time_interleaved(calls, repeats).items():
                n_bytes = helper.model_bytes(modules[width, way])
                found.append(LayerTiming(size, width, batch, way, n_bytes, Timing.of(runs)))
    return found


def timing_table(timings: Sequence[LayerTiming]) -> str:
    """The timings as a table: ms per call (spread), GB/s of weights read, speed against fp32."""
    fp32 = {(t.size, t.batch): t.timing.ms for t in timings if t.way == "fp32"}
    lines = [
        f"{'layer':>11} {'batch':>5} {'way':24} {'bits':>4} {'MB read':>8} "
        + f"{'ms per call':>17} {'GB/s':>6} {'vs fp32':>8}"
    ]
    for t in timings:
        shown = f"{t.timing.ms:8.3f} ± {t.timing.spread / 2:6.3f}"
        speed = fp32[t.size, t.batch] / t.timing.ms
        lines.append(
            f"{t.size:>5}x{t.size:<5} {t.batch:5} {t.way:24} {t.bits:4} {t.n_bytes / 1e6:8.2f} "
            f"{shown:>17} {t.n_bytes / t.timing.ms / 1e6:6.1f} {speed:7.2f}x"
        )
    return "\n".join(lines)


# --- Plots of the timings -------------------------------------------------------------------------


def _points(ax, timings: Sequence[LayerTiming], x: Callable, y: Callable) -> None:
    for way in WAYS:
        for bits, marker in BITS_MARKERS.items():
            chosen = [t for t in timings if t.way == way and t.bits == bits]
            if chosen:
                label = way if way == "fp32" else f"{way}, {bits}-bit"
                ax.scatter(
                    [x(t) for t in chosen],
                    [y(t) for t in chosen],
                    s=60 if bits == 4 else 45,
                    marker=marker,
                    color=WAY_COLOURS[way],
                    edgecolor="white",
                    linewidth=0.6,
                    label=label,
                    zorder=3,
                )


def plot_time_against_bytes(timings: Sequence[LayerTiming], bandwidth: float) -> plt.Figure:
    """Batch 1: each layer's time per call against the bytes of weights it reads, on log axes,
    with the least time the memory allows, ``bytes / bandwidth``."""
    chosen = [t for t in timings if t.batch == 1]
    figure, ax = plt.subplots(figsize=(8, 4.6), layout="constrained")
    _points(ax, chosen, lambda t: t.n_bytes / 1e6, lambda t: t.timing.ms)
    span = np.geomspace(min(t.n_bytes for t in chosen) / 2, max(t.n_bytes for t in chosen) * 2)
    ax.plot(span / 1e6, span / bandwidth * 1e3, color=LINE_GREY, linestyle="--", linewidth=1.2,
            label=f"bytes / bandwidth ({bandwidth / 1e9:.1f} GB/s)", zorder=2)  # fmt: skip
    ax.set(xscale="log", yscale="log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("weights read per call (MB, log scale)", fontsize=10)
    ax.set_ylabel("time per call (ms, log scale)", fontsize=10)
    ax.set_title("Square layers at batch 1, one thread: time follows the bytes read", fontsize=11)
    ax.tick_params(labelsize=9)
    ax.grid(True, which="major", alpha=0.3)
    figure.legend(loc="outside right upper", fontsize=9, frameon=False)
    plt.close(figure)  # returned, not drawn twice by the notebook's inline backend
    return figure


def plot_roofline(
    timings: Sequence[LayerTiming], bandwidth: float, peak_flops: float
) -> plt.Figure:
    """The roofline: each layer's speed (Gflop/s) against its intensity (flops per byte of
    weights), under ``min(peak, intensity * bandwidth)``."""
    figure, ax = plt.subplots(figsize=(8, 4.6), layout="constrained")
    _points(ax, timings, lambda t: t.flops / t.n_bytes, lambda t: t.flops / t.timing.ms / 1e6)
    intensities = [t.flops / t.n_bytes for t in timings]
    span = np.geomspace(min(intensities) / 2, max(max(intensities) * 2, 2 * peak_flops / bandwidth))
    roof = np.minimum(peak_flops, span * bandwidth) / 1e9
    ax.plot(span, roof, color=LINE_GREY, linewidth=1.5, label="min(peak, intensity × bandwidth)")
    ax.set(xscale="log", yscale="log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("intensity (flops per byte of weights read, log scale)", fontsize=10)
    ax.set_ylabel("speed (Gflop/s, log scale)", fontsize=10)
    ax.set_title(
        f"Roofline, one thread: bandwidth {bandwidth / 1e9:.1f} GB/s, peak "
        f"{peak_flops / 1e9:.0f} Gflop/s",
        fontsize=11,
    )
    ax.tick_params(labelsize=9)
    ax.grid(True, which="major", alpha=0.3)
    figure.legend(loc="outside right upper", fontsize=9, frameon=False)
    plt.close(figure)  # returned, not drawn twice by the notebook's inline backend
    return figure


# --- The widget: a table of timings, looked up ---------------------------------------------------


@dataclass(frozen=True)
class WaysBarsData(PlotData):
    """Milliseconds per call of each way, and the axis' end."""

    ms: tuple[float, float, float]
    xmax: float
    title: str


class WaysBars(Plot):
    """Lesson L7-A: the time per call of the layer each way, three bars."""

    Data = WaysBarsData
    figsize = (6.4, 2.4)
    margins = (0.3, 0.22, 0.95, 0.86)

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.bars = ax.barh([2, 1, 0], [0, 0, 0], color=[WAY_COLOURS[way] for way in WAYS])
        self.labels = [ax.text(0, y, "", va="center", fontsize=9) for y in (2, 1, 0)]
        ax.set_yticks([2, 1, 0], WAYS)
        ax.set_xlabel("milliseconds per call (measured when the widget was built)", fontsize=10)

    def update(self, data: WaysBarsData) -> None:
        for bar, label, value in zip(self.bars, self.labels, data.ms):
            bar.set_width(value)
            label.set_position((value, bar.get_y() + bar.get_height() / 2))
            label.set_text(f" {value:.3g} ms")
        self.ax.set_xlim(0, data.xmax)
        self.set_title(data.title)


WIDGET_SIZES, WIDGET_BATCHES = (1024, 2048, 4096), (1, 4, 16)


def explore_fast_inference(timings: Sequence[LayerTiming] | None = None) -> Explorer:
    """L7-A: a square layer's time per call in fp32, dequantized then multiplied, and on the
    packed kernel, for its size, bits and batch. ``timings`` (``time_layers``'s, with both bit
    widths and every size and batch) are measured beforehand, so a change only looks them up;
    None measures ``WIDGET_SIZES`` x (8, 4) x ``WIDGET_BATCHES`` now (a few seconds)."""
    if timings is None:
        timings = time_layers(WIDGET_SIZES, (8, 4), WIDGET_BATCHES, repeats=3)
    table = {(t.size, t.bits, t.batch, t.way): t for t in timings}
    fp32 = {(t.size, t.batch): t for t in timings if t.way == "fp32"}
    sizes = sorted({t.size for t in timings})
    batches = sorted({t.batch for t in timings})
    if not sizes or any((s, b) not in fp32 for s in sizes for b in batches):
        raise ValueError("timings must hold time_layers' records, fp32 for every size and batch")
    controls = {
        "size": widgets.SelectionSlider(
            options=sizes, value=sizes[-1], description="layer size", continuous_update=True,
            style=STYLE,
        ),
        "bits": buttons("bits", [8, 4], 4),
        "batch": widgets.SelectionSlider(
            options=batches, value=batches[0], description="batch", continuous_update=True,
            style=STYLE,
        ),
    }  # fmt: skip
    xmax = {size: 1.25 * max(t.timing.ms for t in timings if t.size == size) for size in sizes}

    def compute(size: int, bits: int, batch: int) -> View:
        ways = [
            fp32[size, batch],
            table[size, bits, batch, WAYS[1]],
            table[size, bits, batch, WAYS[2]],
        ]
        ms = tuple(t.timing.ms for t in ways)
        readout = {
            "fp32_ms": ms[0],
            "dequantize_ms": ms[1],
            "packed_ms": ms[2],
            "packed_speed_up": f"{ms[0] / ms[2]:.2f}x",
            "fp32_MB": ways[0].n_bytes / 1e6,
            "packed_MB": ways[2].n_bytes / 1e6,
        }
        title = f"{size} x {size}, {bits}-bit weights, batch {batch}"
        return View(readout, [], WaysBarsData(ms, xmax[size], title))

    labels = {
        "fp32_ms": "fp32 (ms per call)",
        "dequantize_ms": "dequantize-then-matmul (ms)",
        "packed_ms": "packed kernel (ms)",
        "packed_speed_up": "packed against fp32",
        "fp32_MB": "fp32 weights (MB)",
        "packed_MB": "packed weights and scales (MB)",
    }
    return Explorer(
        "A layer's time per call, three ways", controls, compute, WaysBars, labels=labels
    )


# --- The language model: bytes per second ---------------------------------------------------------


@dataclass(frozen=True)
class GenerationSpeed:
    """The language model run one way: its label, whether it caches, its speed, and the
    milliseconds per byte of each run (``runs[i]`` of every way was measured in the same round)."""

    label: str
    cache: bool
    bytes_per_second: float
    ms_per_byte: Timing
    runs: tuple[float, ...]


def time_generation(
    models: dict[str, torch.nn.Module], prompt: str, n_bytes: int, repeats: int = 3
) -> list[GenerationSpeed]:
    """Greedy generation of ``n_bytes`` after ``prompt`` by each model, without and with the
    cache, in interleaved rounds (``time_interleaved``): the median time per byte."""
    calls = {
        (label, cache): lambda m=model, c=cache: language_model.generate(
            m, prompt, n_bytes, cache=c
        )
        for label, model in models.items()
        for cache in (False, True)
    }
    found = []
    for (label, cache), runs in time_interleaved(calls, repeats).items():
        per_byte = tuple(ms / n_bytes for ms in runs)
        timing = Timing.of(per_byte)
        found.append(GenerationSpeed(label, cache, 1e3 / timing.ms, timing, per_byte))
    return found


def generation_table(speeds: Sequence[GenerationSpeed]) -> str:
    """Bytes per second and ms per byte of each model, without and with the cache."""
    lines = [f"{'weights':28} {'cache':>5} {'bytes/s':>8} {'ms per byte':>16}"]
    for s in speeds:
        shown = f"{s.ms_per_byte.ms:6.2f} ± {s.ms_per_byte.spread / 2:5.2f}"
        lines.append(f"{s.label:28} {s.cache!s:>5} {s.bytes_per_second:8.0f} {shown:>16}")
    return "\n".join(lines)


def same_shape_tiny_model(d_model: int = 16) -> torch.nn.Module:
    """The course's model's shape (its blocks, heads and context) with ``d_model`` channels and
    random weights: the same calls from Python on ~64 times fewer weights."""
    config = language_model.ModelConfig(d_model=d_model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return language_model.ByteTransformer(config).eval()


# --- "Your turn": the int4 kernel's layout on AVX2 ------------------------------------------------


def pack_int4_cases() -> tuple[list[tuple], list[str]]:
    """Signed 4-bit values (int8), each with a multiple of 32 rows, and what each case tries."""
    generator = torch.Generator().manual_seed(7)

    def values(rows: int, columns: int) -> torch.Tensor:
        return torch.randint(-8, 8, (rows, columns), generator=generator, dtype=torch.int8)

    edges = torch.tensor([[-8, 7]], dtype=torch.int8).repeat(32, 2)  # (32, 4): -8, 7, -8, 7
    cases = [(values(32, 2),), (edges,), (values(64, 8),), (values(32, 64),)]
    labels = [
        "one block of 32 rows, 2 columns",
        "the ends of the range, -8 and 7 (u = 0 and 15)",
        "two blocks of 32 rows",
        "a layer of 32 rows and 64 columns",
    ]
    return cases, labels


def check_pack_int4(learner_function: Callable) -> Verdict:
    """L7-A "Your turn": ``learner_function(q)`` packs signed 4-bit values ``q`` (int8, rows a
    multiple of 32) as torch's int4 kernel does with AVX2: ``u = q + 8``; in each block of 32
    rows, column by column, byte ``d`` holds row ``d`` (low nibble) and row ``d + 16`` (high);
    a uint8 tensor (rows, columns / 2) in that order."""
    cases, labels = pack_int4_cases()
    return check_exercise(
        learner_function,
        lambda q: helper.pack_int4_for_cpu(q, "AVX2"),
        cases,
        "pack_int4",
        labels,
    )
