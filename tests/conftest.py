"""Fixtures of the real-browser tests (tests/test_browser*.py): Debian's chromium driven by Playwright for Python, and
Voilà / JupyterLab servers on free 127.0.0.1 ports with a fixed token and their own config, runtime, data, settings
and workspace directories, stopped with SIGTERM.

`playwright install` downloads a browser and cannot here, so pytest-playwright's launch arguments point at
/usr/lib/chromium/chromium (`apt-get install chromium fonts-dejavu-core`; .ci/run installs it). Without chromium the
browser tests skip, saying so, unless DIFFMARKET_BROWSER_TESTS=required (set by .ci/run, which installed it): then
they fail, so CI never passes by skipping them."""
import os, shutil, signal, socket, subprocess, sys, time, urllib.error, urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("DIFFMARKET_CHROMIUM", "/usr/lib/chromium/chromium"))
TOKEN = "diffmarket-browser-test"
SHOTS = ROOT / "runs" / "browser"            # screenshots of every browser test (runs/ is not tracked)
BIN = Path(sys.executable).parent


def browser_missing() -> str:
    "Why the browser tests cannot run here ('' when they can)."
    try: import playwright  # noqa: F401
    except ImportError: return "playwright is not installed (make .venv/.installed installs the dev requirements)"
    if not CHROMIUM.exists(): return f"chromium is not installed at {CHROMIUM} (apt-get install chromium fonts-dejavu-core, as .ci/run does)"
    return ""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    "pytest-playwright's launch arguments: Debian's chromium, no /dev/shm, no GPU (Playwright adds --no-sandbox)."
    why = browser_missing()
    if why:
        if os.environ.get("DIFFMARKET_BROWSER_TESTS") == "required": pytest.fail(f"browser tests are required here but {why}")
        pytest.skip(why)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--disable-dev-shm-usage", "--disable-gpu"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def wait_http(url:str, proc, log:Path, timeout:float=120.0):
    "Poll `url` until the server answers below 500 (Voilà's /api/status answers 302; any page will do)."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None: raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500: return
        except urllib.error.HTTPError as e:
            if e.code < 500: return
        except OSError: pass
        time.sleep(0.2)                          # a readiness poll, not a wait for the page's state
    raise TimeoutError(f"server at {url} not up after {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def server(cmd:list, cwd:Path, home:Path, port:int, probe:str, env:dict=None):
    "Run a Jupyter server with its own directories under `home`; stop it with SIGTERM (then SIGKILL after 20 s)."
    dirs = {k: home / k for k in ("config", "runtime", "data", "settings", "workspaces")}
    for d in dirs.values(): d.mkdir(parents=True, exist_ok=True)
    e = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
             JUPYTER_DATA_DIR=str(dirs["data"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
             JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
             PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {}))
    log = home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=e, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}{probe}", proc, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try: proc.wait(timeout=20)
            except subprocess.TimeoutExpired: proc.kill(); proc.wait()


@pytest.fixture(scope="session")
def live_journal(tmp_path_factory):
    "A journal the Voilà live monitor watches; the test appends to it as a running session would."
    from diffmarket.data.loaders import load_bars, sample_path
    from diffmarket.trading.backtest import Backtest
    from diffmarket.trading.backtest import SMACrossover
    from diffmarket.app.live_monitor import write_journal
    bars = load_bars(sample_path("sp500_daily.csv"))
    run = Backtest(bars[bars.timestamp >= "2012-01-01"], SMACrossover(20, 100, size=20)).run()
    path = tmp_path_factory.mktemp("live") / "journal.sqlite"
    write_journal(path, run, upto=6)
    return dict(path=path, run=run, append=lambda n: write_journal(path, run, upto=n))


@pytest.fixture(scope="session")
def voila(browser_type_launch_args, tmp_path_factory, live_journal):
    "The dashboards as a Voilà app (as `make dashboards` serves them), on a free port."
    home, port = tmp_path_factory.mktemp("voila"), free_port()
    cmd = [str(BIN / "voila"), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", f"--token={TOKEN}",
           f"--Voila.connection_dir_root={home / 'runtime'}", "--show_tracebacks=True", "."]
    with server(cmd, ROOT / "dashboards", home, port, "/api/status",
                env=dict(DIFFMARKET_JOURNAL=str(live_journal["path"]))) as url:
        yield url


@pytest.fixture(scope="session")
def lab(browser_type_launch_args, tmp_path_factory):
    "JupyterLab on a scratch folder holding a copy of the backtest dashboard notebook."
    home, port = tmp_path_factory.mktemp("lab"), free_port()
    work = home / "work"; work.mkdir()
    shutil.copy(ROOT / "dashboards" / "backtest.ipynb", work / "backtest.ipynb")
    news = home / "settings" / "@jupyterlab" / "apputils-extension"; news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    cmd = [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={TOKEN}", "--allow-root", "--LabApp.expose_app_in_browser=True",
           "--LabApp.news_url=None", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={work}"]
    with server(cmd, work, home, port, "/api/status") as url:
        yield url


@pytest.fixture
def shots(request):
    """save(page, name, readme=None): a full-page screenshot under runs/browser/<test>/; with DIFFMARKET_SCREENSHOTS=DIR
    (`make screenshots`) the view of the window is also written as DIR/<readme>.png, the README's pictures."""
    d = SHOTS / request.node.name; d.mkdir(parents=True, exist_ok=True)
    def save(page, name, readme=None):
        page.screenshot(path=str(d / f"{name}.png"), full_page=True)
        if readme and os.environ.get("DIFFMARKET_SCREENSHOTS"):
            out = ROOT / os.environ["DIFFMARKET_SCREENSHOTS"]; out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / f"{readme}.png"))
        return d / f"{name}.png"
    return save


@pytest.fixture(scope="session")
def small_market_agent(tmp_path_factory):
    "The market-agent tests' model, trained once a session: (config, windows, best model, checkpoint folder)."
    from market_agent_setup import train_small
    return train_small(tmp_path_factory.mktemp("market_agent"))


@pytest.fixture(scope="session")
def rules_market_agent():
    "A market-agent model trained under drawn rules long enough to have learned them: (config, windows, best model)."
    from market_agent_setup import train_rules
    return train_rules()
