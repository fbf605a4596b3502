"""Real-browser test: every lesson notebook runs in JupyterLab and its first slider reacts.

A throw-away copy of the repository is served by a private, offline JupyterLab on
127.0.0.1; headless Chromium (driven by Playwright) opens each notebook, runs all
cells through the Run menu, checks that no cell shows an error, then moves the
first ipywidgets slider with the keyboard and waits until the widget outputs change.
It then times KEY_PRESSES more presses, each from the key's keydown to the changed
picture painted (the browser's own clock), and prints every lesson's median and slowest
press after the results. Speed is printed, never asserted: the machine is shared and noisy;
the course aims at a slowest lesson under LATENCY_AIM_MS.

Environment variables:
    COURSE_REPO             repository to test (default: the parent of tests/).
    BROWSER_ARTIFACTS       where failure screenshots and console logs go
                            (default: <repo>/.browser-artifacts).
    SAVE_README_SCREENSHOT  if set, a PNG of the README_NOTEBOOK widget after the
                            slider moved is saved at this path.
    SAVE_FIRST_LESSON_SCREENSHOT
                            where to save the picture of JupyterLab as a learner first
                            sees it (default: <artifacts>/first_lesson.png).
    REQUIRE_SLIDER          "0" relaxes the every-lesson-has-a-slider rule.
    CHROMIUM                the Chromium/Chrome executable (default: chromium on PATH).
    CI                      if non-empty, a missing browser fails instead of skipping.

JupyterLab is started with the flags of `make lab` (the Makefile's LAB variable: the first
lesson as the default page, the course's settings in jupyterlab-settings/), plus what a test
needs: its own port and token, no browser, no update check, no extension manager.
"""

import json
import os
import re
import secrets
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import make_variable

if os.environ.get("CI"):
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(os.environ.get("COURSE_REPO") or Path(__file__).resolve().parents[1])
NOTEBOOKS = sorted(path.name for path in (REPO_ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS_DIR = Path(os.environ.get("BROWSER_ARTIFACTS") or REPO_ROOT / ".browser-artifacts")
README_NOTEBOOK = "L2_linear_I_quantize_dequantize_tensor.ipynb"

# Every lesson is meant to have an interactive slider; relax while lessons are written.
REQUIRE_SLIDER = os.environ.get("REQUIRE_SLIDER", "1") != "0"

SERVER_START_TIMEOUT_S = 90
SERVER_STOP_TIMEOUT_S = 20
KERNEL_READY_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 180
SLIDER_TIMEOUT_S = 10
SLIDER_KEY_RETRY_S = 2
MAX_SLIDER_KEY_PRESSES = 5
# Presses timed per lesson, from keydown to the changed picture painted; the course's aim for
# the slowest lesson's median (printed beside the figures, not asserted).
KEY_PRESSES = 6
LATENCY_AIM_MS = 150

COPY_SKIPPED = {
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    ".browser-artifacts",
    "node_modules",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# User settings for the isolated JupyterLab: every cell attached to the DOM, and no
# kernel-picker dialog. (No news setting here: the course's own, in jupyterlab-settings/, is what
# keeps the news pop-up away, and the test checks that it does.)
LAB_USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}

KERNEL_IDLE = '.jp-Notebook-ExecutionIndicator[data-status="idle"]'
SLIDER_HANDLE = ".jp-Notebook .widget-slider .noUi-handle"
LOG_CONSOLE_STATUS = ".jp-LogConsoleStatusItem"
LOG_CONSOLE_PANEL = ".jp-LogConsolePanel"

# True once "Run All" has finished: kernel idle, no cell queued/running ([*]), at
# least one cell numbered, and either every code cell numbered or an output on
# stderr (an error stops Run All, leaving the later cells unnumbered).
RUN_ALL_DONE_JS = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    if (!status || status.getAttribute('data-status') !== 'idle') return false;
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map((p) => p.textContent.trim());
    const numbered = prompts.filter((p) => /^\\[\\d+\\]:$/.test(p)).length;
    if (numbered === 0 || prompts.some((p) => p.includes('*'))) return false;
    const stderr = '.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]';
    return numbered === prompts.length || document.querySelector(stderr) !== null;
}"""

# What the kernel shows in the notebook's outputs: all text except slider readouts
# (they change in the browser alone), plus the source of every image.
OUTPUTS_SIGNATURE_JS = """() => {
    const areas = [...document.querySelectorAll('.jp-Notebook .jp-Cell-outputArea')];
    return areas.map((area) => {
        const copy = area.cloneNode(true);
        copy.querySelectorAll('.widget-readout').forEach((e) => e.remove());
        const images = [...area.querySelectorAll('img')].map((img) => img.src);
        return copy.textContent + images.join('\\n');
    }).join('\\n');
}"""

# Arms a timer on a widget's output area: resolves window.keyToPixels with the milliseconds
# from the next keydown to the outputs' change painted: a changed picture once decoded, else
# changed text, then two animation frames (the browser has painted). null after 5 s unchanged.
KEY_TO_PIXELS_JS = """(area) => {
    window.keyToPixels = new Promise((resolve) => {
        let pressed = null;
        let textTimer = null;
        document.addEventListener('keydown', () => { pressed = performance.now(); },
            {capture: true, once: true});
        const sources = () => [...area.querySelectorAll('img')].map((img) => img.src).join();
        const texts = () => {
            const copy = area.cloneNode(true);
            copy.querySelectorAll('.widget-readout').forEach((e) => e.remove());
            return copy.textContent;
        };
        const before = {sources: sources(), texts: texts()};
        const painted = () => new Promise((done) =>
            requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now()))));
        const finish = (at) => { observer.disconnect(); resolve(at - pressed); };
        const observer = new MutationObserver(async () => {
            if (pressed === null) return;
            if (sources() !== before.sources) {
                observer.disconnect();
                clearTimeout(textTimer);
                await Promise.all([...area.querySelectorAll('img')]
                    .map((img) => img.decode().catch(() => null)));
                finish(await painted());
            } else if (texts() !== before.texts && textTimer === null) {
                const at = await painted();  // a picture may follow: wait for it a little
                textTimer = setTimeout(() => finish(at), 500);
            }
        });
        observer.observe(area, {subtree: true, childList: true, attributes: true,
            characterData: true});
        setTimeout(() => { observer.disconnect(); resolve(null); }, 5000);
    });
}"""

IMAGES_LOADED_JS = "(area) => [...area.querySelectorAll('img')].every((img) => img.complete)"

STDERR_OUTPUTS = (
    '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
)
# A Python error output: a traceback, or a last line such as "SyntaxError: invalid syntax".
ERROR_TEXT = re.compile(r"Traceback|^[\w.]*(Error|Exception)\b(:|$)", re.MULTILINE)
WIDGET_ERROR_TEXT = "Error displaying widget"


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token and its log file."""

    port: int
    token: str
    log_path: Path

    def url(self, path: str, query: str = "") -> str:
        """Absolute URL of `path` on the server, authenticated with the token."""
        return f"http://127.0.0.1:{self.port}/{path}?{query}token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        """Call the REST API (never through a proxy) and return the decoded JSON, if any."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def get(self, path: str) -> object:
        """GET any server path (not only /api/) with the token, and decode its JSON."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}",
            headers={"Authorization": f"token {self.token}"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the server log, for error messages."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def format_ms(times: list[float]) -> str:
    """A lesson's key-press timings for reports: median and slowest in ms, or "no slider"."""
    if not times:
        return "no slider"
    return f"median {statistics.median(times):.0f} ms, slowest {max(times):.0f} ms"


class SliderTimings:
    """Collects each lesson's key press -> changed pixels times (ms); a pytest plugin that
    prints them after the test results, with the slowest lesson against LATENCY_AIM_MS, and
    appends them to a CSV file."""

    def __init__(self, csv_path: Path):
        self.csv_path = csv_path
        self.rows: dict[str, list[float]] = {}

    def add(self, notebook: str, times: list[float]) -> None:
        """Record one lesson's timed presses (none when it has no slider)."""
        self.rows[notebook] = times
        with self.csv_path.open("a") as csv:
            csv.write(f"{notebook}, {', '.join(f'{ms:.1f}' for ms in times)}\n")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """pytest hook: list the timings after the test results."""
        if not self.rows:
            return
        terminalreporter.section("key press -> changed pixels, in the browser (ms)")
        for notebook, times in self.rows.items():
            terminalreporter.write_line(f"{notebook}: {format_ms(times)}")
        medians = {name: statistics.median(times) for name, times in self.rows.items() if times}
        if medians:
            slowest = max(medians, key=medians.get)
            terminalreporter.write_line(
                f"slowest lesson: {slowest}, median {medians[slowest]:.0f} ms "
                f"(the course aims under {LATENCY_AIM_MS} ms)"
            )
        terminalreporter.write_line(f"(also in {self.csv_path})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_repository(destination: Path) -> Path:
    """Copy the repository (without VCS data, caches, venvs, nor the destination itself,
    should pytest's temp dir be inside the repository) and return the copy."""
    copy = destination / "course"

    def skipped(folder: str, names: list[str]) -> set[str]:
        return {
            name
            for name in names
            if name in COPY_SKIPPED
            or Path(folder, name, "pyvenv.cfg").exists()
            or copy.resolve().is_relative_to(Path(folder, name).resolve())
        }

    shutil.copytree(REPO_ROOT, copy, ignore=skipped)
    return copy


def isolated_jupyter_env(home: Path, course: Path, token: str) -> dict[str, str]:
    """Environment for the server: private Jupyter/IPython dirs, lab settings, token."""
    env = dict(os.environ)
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
        "IPYTHONDIR",
    ):
        env[name] = str(home / name.lower())
        Path(env[name]).mkdir(parents=True)
    for plugin, settings in LAB_USER_SETTINGS.items():
        path = Path(env["JUPYTERLAB_SETTINGS_DIR"], f"{plugin}.jupyterlab-settings")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    env["JUPYTER_TOKEN"] = token
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(course), env.get("PYTHONPATH")]))
    return env


def lab_command(port: int) -> list[str]:
    """`make lab`'s command line (bound to 127.0.0.1 already; run in the copy, so that its
    relative paths point there), made offline, on `port` only."""
    command = [
        sys.executable,
        *shlex.split(make_variable("LAB")),
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def wait_until_up(server: LabServer, process: subprocess.Popen) -> None:
    """Poll /api/status until it answers; fail with the server log if it never does."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("status")
            return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"JupyterLab not up after {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen) -> None:
    """Stop the server: SIGTERM (it shuts its kernels down), SIGKILL if it hangs on exit
    (its kernels then notice their parent is gone and exit too)."""
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def find_chromium() -> str | None:
    """Path of $CHROMIUM, else of the system Chromium, if any (Playwright's own browser
    builds are never used: they would need a download)."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab serving a copy of the repository (as `make lab` does: the lessons' markdown
    shows images from ../images/)."""
    base = tmp_path_factory.mktemp("browser")
    course = copy_repository(base)
    token = secrets.token_hex(16)
    server = LabServer(port=free_port(), token=token, log_path=base / "jupyterlab.log")
    with server.log_path.open("w") as log:
        process = subprocess.Popen(
            lab_command(server.port),
            cwd=course,
            env=isolated_jupyter_env(base / "jupyter", course, token),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(server, process)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium; skipped if absent (conftest then says so in make test's last
    line), except under CI where it fails."""
    executable = find_chromium()
    if executable is None:
        reason = "no Chromium: set $CHROMIUM or put chromium on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the browser test")
        pytest.skip(reason)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def slider_timings(request, tmp_path_factory):
    """Registers the SliderTimings plugin for the whole session."""
    timings = SliderTimings(tmp_path_factory.getbasetemp() / "slider_timings.csv")
    request.config.pluginmanager.register(timings, "slider-timings")
    return timings


@pytest.fixture
def console_log() -> list[str]:
    """The browser console messages of the current test's page."""
    return []


@pytest.fixture
def page(browser, console_log):
    """A page in a fresh browser context, closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    new_page.on("console", lambda message: console_log.append(f"{message.type}: {message.text}"))
    new_page.on("pageerror", lambda error: console_log.append(f"pageerror: {error}"))
    yield new_page
    context.close()


def click_menu(page, menu: str, item: str) -> None:
    """Click `menu` in JupyterLab's menu bar, then its entry `item` (exact labels)."""
    page.locator(".lm-MenuBar-itemLabel").get_by_text(menu, exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def kernel_connected(server: LabServer, notebook: str) -> bool:
    """Whether the notebook has a kernel that a browser is connected to."""
    return any(
        session["path"] == f"notebooks/{notebook}" and session["kernel"]["connections"] > 0
        for session in server.api("sessions")
    )


def open_notebook(page, server: LabServer, notebook: str) -> None:
    """Open the notebook alone in a fresh workspace and wait for its kernel to be idle.

    The page shows "idle" once before the kernel exists, so first wait for the page's
    websocket to the kernel (then the page says "connecting" until the kernel answers).
    """
    workspace = f"test-{secrets.token_hex(4)}"
    path = quote(f"notebooks/{notebook}")
    page.goto(server.url(f"lab/workspaces/{workspace}/tree/{path}", "reset&"))
    deadline = time.monotonic() + KERNEL_READY_TIMEOUT_S
    while not kernel_connected(server, notebook):
        assert time.monotonic() < deadline, f"no kernel after {KERNEL_READY_TIMEOUT_S} s"
        page.wait_for_timeout(250)
    page.locator(KERNEL_IDLE).wait_for(timeout=KERNEL_READY_TIMEOUT_S * 1000)


def run_all_cells(page) -> None:
    """Clear all outputs, run all cells, and wait until the execution is over."""
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    click_menu(page, "Run", "Run All Cells")
    try:
        page.wait_for_function(RUN_ALL_DONE_JS, timeout=RUN_ALL_TIMEOUT_S * 1000, polling=250)
    except sync_api.TimeoutError:
        raise AssertionError(f"Run All Cells did not finish within {RUN_ALL_TIMEOUT_S} s") from None


def assert_no_error_outputs(page) -> None:
    """Fail if a cell shows a Python error or a widget failed to render."""
    for text in page.locator(STDERR_OUTPUTS).all_inner_texts():
        if ERROR_TEXT.search(text):
            raise AssertionError(f"a cell shows an error:\n{text}")
    widget_errors = page.locator(".jp-Notebook").get_by_text(WIDGET_ERROR_TEXT).all_inner_texts()
    if widget_errors:
        raise AssertionError(f"a widget failed to render: {widget_errors}")


def move_first_slider(page):
    """Press an arrow key on the first slider until the kernel-driven outputs change.

    Returns the slider's handle (None if the notebook has none) and the seconds from
    the first key press to the change.
    """
    handles = page.locator(SLIDER_HANDLE)
    if handles.count() == 0:
        return None, None
    handle = handles.first
    handle.scroll_into_view_if_needed()
    handle.focus()
    at_max = float(handle.get_attribute("aria-valuenow")) >= float(
        handle.get_attribute("aria-valuemax")
    )
    key = "ArrowLeft" if at_max else "ArrowRight"
    before = page.evaluate(OUTPUTS_SIGNATURE_JS)
    changed = f"(before) => ({OUTPUTS_SIGNATURE_JS})() !== before"
    start = time.monotonic()
    for _ in range(MAX_SLIDER_KEY_PRESSES):
        remaining = SLIDER_TIMEOUT_S - (time.monotonic() - start)
        if remaining <= 0:
            break
        page.keyboard.press(key)
        try:
            page.wait_for_function(
                changed, arg=before, timeout=min(SLIDER_KEY_RETRY_S, remaining) * 1000
            )
            return handle, time.monotonic() - start
        except sync_api.TimeoutError:
            continue
    raise AssertionError(
        f"the outputs did not change within {SLIDER_TIMEOUT_S} s of pressing {key} on the "
        "first slider (an exception in a widget callback goes to JupyterLab's log console)"
    )


def time_key_presses(page, handle, presses: int = KEY_PRESSES) -> list[float]:
    """Press the arrow keys on the slider ``presses`` times, back and forth, and return the
    milliseconds from each keydown to the widget's changed outputs painted."""
    area = handle.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputArea')][1]")
    at_max = float(handle.get_attribute("aria-valuenow")) >= float(
        handle.get_attribute("aria-valuemax")
    )
    keys = ("ArrowLeft", "ArrowRight") if at_max else ("ArrowRight", "ArrowLeft")
    times = []
    for press in range(presses):
        page.evaluate(KEY_TO_PIXELS_JS, area.element_handle())
        handle.focus()
        page.keyboard.press(keys[press % 2])
        ms = page.evaluate("() => window.keyToPixels")
        if ms is None:
            raise AssertionError(f"the outputs did not change after pressing {keys[press % 2]}")
        times.append(ms)
    return times


def readme_screenshot_path(notebook: str) -> Path | None:
    """Where to save the README picture of this notebook's widget, if anywhere."""
    path = os.environ.get("SAVE_README_SCREENSHOT")
    return Path(path) if path and notebook == README_NOTEBOOK else None


def save_readme_screenshot(page, handle, path: Path) -> None:
    """Screenshot the output area that holds the slider, once its images are loaded."""
    area = handle.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputArea')][1]")
    page.wait_for_function(IMAGES_LOADED_JS, arg=area.element_handle())
    path.parent.mkdir(parents=True, exist_ok=True)
    area.screenshot(path=path)


def open_log_console(page) -> str:
    """Open JupyterLab's log console if it holds messages (e.g. a widget callback's
    traceback) so the screenshot shows them; return its text."""
    status = page.locator(LOG_CONSOLE_STATUS)
    if not status.is_visible() or not status.inner_text().strip():
        return ""
    status.click()
    panel = page.locator(LOG_CONSOLE_PANEL)
    panel.wait_for()
    return panel.inner_text()


def save_artifacts(page, console_log: list[str], notebook: str) -> Path:
    """Save a screenshot, the browser console and JupyterLab's log console of a failure."""
    folder = ARTIFACTS_DIR / Path(notebook).stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "log-console.txt").write_text(open_log_console(page))
    page.screenshot(path=folder / "screenshot.png", full_page=True)
    (folder / "console.log").write_text("\n".join(console_log) + "\n")
    return folder


def assert_images_load(page) -> None:
    """Fail if a picture in the lesson's markdown does not load (a broken ../images/ link)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-RenderedMarkdown img')].every(i => i.complete)",
        timeout=10_000,
    )
    broken = page.eval_on_selector_all(
        ".jp-RenderedMarkdown img",
        "images => images.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'))",
    )
    assert not broken, f"images that do not load: {broken}"


def shut_down_kernel(server: LabServer, notebook: str) -> None:
    """Delete the notebook's session so its kernel stops (2 cores: no kernels pile up)."""
    for session in server.api("sessions"):
        if session["path"] == f"notebooks/{notebook}":
            server.api(f"sessions/{session['id']}", method="DELETE")


def check_notebook(page, server: LabServer, notebook: str, slider_timings) -> list[float]:
    """The whole check of one notebook; returns the timed key presses (none without a slider)."""
    open_notebook(page, server, notebook)
    assert_images_load(page)
    run_all_cells(page)
    assert_no_error_outputs(page)
    handle, _ = move_first_slider(page)
    if handle is None and (REQUIRE_SLIDER or readme_screenshot_path(notebook)):
        raise AssertionError("no ipywidgets slider in this notebook (see REQUIRE_SLIDER)")
    times = []
    if handle is not None:
        times = time_key_presses(page, handle)
        assert_no_error_outputs(page)
        if readme_screenshot_path(notebook):
            save_readme_screenshot(page, handle, readme_screenshot_path(notebook))
    slider_timings.add(notebook, times)
    return times


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_and_slider_reacts(
    notebook, page, console_log, lab_server, slider_timings, record_property
):
    """Run All succeeds without errors and the first slider updates the outputs."""
    try:
        times = check_notebook(page, lab_server, notebook, slider_timings)
    except (AssertionError, sync_api.Error) as error:
        folder = save_artifacts(page, console_log, notebook)
        error.add_note(f"{notebook}: screenshot and logs in {folder}")
        raise
    finally:
        shut_down_kernel(lab_server, notebook)
    record_property("key_press_ms", times)
    print(f"{notebook}: key press -> changed pixels: {format_ms(times)}")


FIRST_LESSON = "L2_linear_I_quantize_dequantize_tensor.ipynb"
NOTIFICATION_SETTINGS = "lab/api/settings/@jupyterlab/apputils-extension:notification"
TOASTS = ".Toastify__toast"


def first_lesson_screenshot_path() -> Path:
    path = os.environ.get("SAVE_FIRST_LESSON_SCREENSHOT")
    return Path(path) if path else ARTIFACTS_DIR / "first_lesson.png"


def test_first_lesson_opens_by_itself_without_a_news_pop_up(page, lab_server):
    """A fresh start of `make lab`'s JupyterLab: the server's front page opens the first lesson,
    the course's setting turns news fetching off, and no pop-up asks about Jupyter news."""
    # The course's overrides become the defaults of the plugin's settings; a learner's own user
    # settings (here none) could still change them.
    notification = lab_server.get(NOTIFICATION_SETTINGS)
    assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert "fetchNews" not in notification["settings"]
    try:
        page.goto(lab_server.url(""))  # the server's root: JupyterLab's default page
        tab = page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        tab.get_by_text(FIRST_LESSON, exact=True).wait_for(timeout=KERNEL_READY_TIMEOUT_S * 1000)
        page.locator(KERNEL_IDLE).wait_for(timeout=KERNEL_READY_TIMEOUT_S * 1000)
        page.wait_for_timeout(2000)  # the news question comes once the page is restored
        toasts = page.locator(TOASTS).all_inner_texts()
        assert not toasts, f"pop-ups on a fresh start: {toasts}"
        path = first_lesson_screenshot_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path)
    except (AssertionError, sync_api.Error) as error:
        folder = save_artifacts(page, [], "first-start")
        error.add_note(f"first start: screenshot and logs in {folder}")
        raise
    finally:
        shut_down_kernel(lab_server, FIRST_LESSON)
