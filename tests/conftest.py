"Shared fixtures: the real data in ../shared (skipped with a reason when absent) and the repo paths."
import os, socket, subprocess, sys, importlib.util
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NBS = REPO/'nbs'
# CI and developers keep the real data at ../shared beside the checkout; XRAYLIB_SHARED_DATA overrides.
SHARED = Path(os.environ.get('XRAYLIB_SHARED_DATA', REPO.parent/'shared'/'data'))


def shared_path(*parts) -> Path:
    "Path below ../shared/data, or skip the calling test with the reason."
    p = SHARED.joinpath(*parts)
    if not p.exists(): pytest.skip(f'real data not available: {p} is absent (see ../shared/README.md)')
    return p


# What `pytest tests -m "not slow"` leaves out (a contributor's few-minute run; `pytest tests` runs everything): tests
# that train a model, and the three kinds below, which count as slow too.
MARKERS = {'slow': 'trains a model, or is a notebooks/browser/install test: left out by -m "not slow"',
           'notebooks': 'executes the notebooks in nbs/ (slow)',
           'browser': 'drives Chromium through Playwright (slow)',
           'install': 'builds the wheel and installs it in a fresh virtual environment (slow)'}


def pytest_configure(config):
    for k, v in MARKERS.items(): config.addinivalue_line('markers', f'{k}: {v}')


def pytest_collection_modifyitems(config, items):
    "A notebooks, browser or install test is slow too, so that `-m \"not slow\"` is the one short form."
    for it in items:
        if any(it.get_closest_marker(m) for m in MARKERS if m != 'slow'): it.add_marker(pytest.mark.slow)


@pytest.fixture
def shared():
    "The `shared_path` function, as a fixture."
    return shared_path


# the browser tests (widget in JupyterLab, `xraylib serve`): Debian's chromium driven by Playwright
ART = Path(__file__).parent/'_artifacts'
CHROMIUM = os.environ.get('XRAYLIB_CHROMIUM', '/usr/bin/chromium')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']


def need_browser(what:str, modules:dict):
    "Skip `what` with the reason when chromium or one of `modules` ({module: pip name}) is absent; fail instead in CI (XRAYLIB_REQUIRE_BROWSER=1)."
    missing = [f'{CHROMIUM} (apt-get install -y chromium)'] if not Path(CHROMIUM).exists() else []
    missing += [f'{m} (pip install {p})' for m, p in modules.items() if importlib.util.find_spec(m) is None]
    if missing:
        msg = f'{what} needs ' + ', '.join(missing)
        if os.environ.get('XRAYLIB_REQUIRE_BROWSER'): pytest.fail(msg)
        pytest.skip(msg)


def free_port()->int:
    "A free TCP port on 127.0.0.1."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


_MEASURE = ('import resource, subprocess, sys, time; t = time.time(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True); '
            'print(r.returncode, time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.stderr.write(r.stdout + r.stderr)')

def run_measured(*cmd, timeout:int=300)->tuple:
    "Run `cmd` in a fresh process: `(exit code, seconds, peak resident memory in MB, stdout + stderr)`."
    r = subprocess.run([sys.executable, '-c', _MEASURE, *map(str, cmd)], capture_output=True, text=True, timeout=timeout)
    rc, secs, kb = r.stdout.split()
    return int(rc), float(secs), int(kb) / 1024, r.stderr
