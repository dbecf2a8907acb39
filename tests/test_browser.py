"""Real-browser end-to-end test of `upload_widget`: JupyterLab on localhost, headless Chromium via Playwright.

It copies the widget notebook `nbs/70_serving.widgets.ipynb` into a temporary folder, opens it in JupyterLab, runs all
its cells, clicks the widget's upload button and sets a real NIH PNG on its `<input type=file>`, checks that the
sorted probabilities (and the Grad-CAM overlay) appear in the page, and saves a screenshot to tests/_artifacts/.
The server is always stopped. Needs: `pip install jupyterlab playwright` and Debian's `chromium`
(`apt-get install -y chromium`).
"""
import os, sys, json, time, signal, socket, secrets, subprocess, urllib.request
from pathlib import Path
import numpy as np, pytest

from conftest import ART, CHROMIUM, ARGS, need_browser, free_port

pytestmark = pytest.mark.browser  # slow too (conftest)

REPO = Path(__file__).parents[1]
WIDGET_NB = REPO/'nbs'/'70_serving.widgets.ipynb'
SHARED = Path(os.environ.get('XRAYLIB_SHARED_DATA', REPO.parent/'shared'/'data'))

# the widget notebook's example model (its cell that shows `upload_widget(pred)`), rebuilt here to know the
# probabilities the page must show; the test checks that the notebook still builds it this way



def _need(): need_browser('browser test', {'playwright': 'playwright', 'jupyterlab': 'jupyterlab'})


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on localhost serving `tmp_path`; yields (url, token, folder); always stopped."
    _need()
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path/'cfg'), JUPYTER_RUNTIME_DIR=str(tmp_path/'rt'),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'),
               PYTHONWARNINGS='ignore', XRAYLIB_SHARED_DATA=str(SHARED))
    news = tmp_path/'settings'/'@jupyterlab'/'apputils-extension'/'notification.jupyterlab-settings'
    news.parent.mkdir(parents=True); news.write_text('{"fetchNews": "false"}')  # no "get notified about news?" toast
    log = open(tmp_path/'lab.log', 'w')
    cmd = [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp_path}', '--ServerApp.open_browser=False',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')  # CI containers run as root
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, t0 = f'http://127.0.0.1:{port}', time.time()
        while True:
            if proc.poll() is not None: pytest.fail(f'jupyter lab exited early:\n{(tmp_path/"lab.log").read_text()[-3000:]}')
            try:
                urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2); break
            except Exception:
                if time.time() - t0 > 90: pytest.fail(f'jupyter lab did not start in 90 s:\n{(tmp_path/"lab.log").read_text()[-3000:]}')
                time.sleep(0.5)
        yield url, token, tmp_path
    finally:  # stop the server and its kernels (own process group), however the test ended
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(timeout=10)
        log.close()


ALL_RUN = """() => { const ps = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                      return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent)); }"""


@pytest.mark.timeout(480)
def test_upload_real_png_in_jupyterlab(lab, shared):
    from playwright.sync_api import sync_playwright, TimeoutError as PWTimeout
    from xraylib.core import LABELS, set_seed
    from xraylib.inference.predict import Predictor
    src = WIDGET_NB.read_text()
    cells = [''.join(c['source']) for c in json.loads(src)['cells'] if c['cell_type'] == 'code']
    shows = [c for c in cells if 'upload_widget(pred)' in c]
    assert shows, 'the widget notebook no longer shows `upload_widget(pred)`'
    model_code = shows[0].split('upload_widget(pred)')[0].rsplit('\n', 1)[0]  # the notebook's own model, as it builds it
    assert 'pred = Predictor(' in model_code, model_code
    png = sorted(shared('nih-real-200', 'images').glob('*.png'))[1]  # the notebook itself feeds its handler [0]
    url, token, folder = lab
    (folder/'70_serving.widgets.ipynb').write_text(src)
    ns = dict(LABELS=LABELS, set_seed=set_seed, Predictor=Predictor); exec(model_code, ns)  # the notebook's model
    exp = ns['pred'].predict(png)
    ART.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1100})
            page.set_default_timeout(60_000)
            try:
                page.goto(f'{url}/lab/tree/70_serving.widgets.ipynb?token={token}')
                page.wait_for_selector('.jp-NotebookPanel .jp-Cell', timeout=90_000)
                try:  # JupyterLab may ask which kernel to start: accept its default (Python 3)
                    page.locator('.jp-Dialog .jp-mod-accept').click(timeout=20_000)
                except PWTimeout: pass
                page.wait_for_selector('.jp-Dialog', state='detached', timeout=30_000)
                page.get_by_role('menuitem', name='Run', exact=True).click()
                page.get_by_text('Run All Cells', exact=True).click()
                try: page.wait_for_function(ALL_RUN, timeout=240_000)  # every code cell numbered: the notebook ran through
                except PWTimeout:
                    errs = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
                    pytest.fail('the widget notebook did not run through in JupyterLab:\n' + '\n'.join(errs)[-3000:])
                button = page.locator('.jp-OutputArea .widget-upload')
                n_buttons = button.count()
                # ipywidgets 8 keeps its <input type=file> out of the DOM and clicks it from the button: catch the
                # file chooser that click opens and set the file on that very input element
                with page.expect_file_chooser() as fc: button.first.click()
                fc.value.element.set_input_files(str(png))
                table = page.locator('table.xraylib-preds', has=page.locator('caption', has_text=png.name))
                table.wait_for(timeout=120_000)
                rows = table.locator('tbody tr')
                labels = [rows.nth(i).locator('td').nth(0).inner_text().strip() for i in range(rows.count())]
                probs = [float(rows.nth(i).locator('td.prob').inner_text()) for i in range(rows.count())]
                n_tables = page.locator('table.xraylib-preds').count()
                page.locator('.jp-OutputArea img').first.wait_for(timeout=60_000)  # the Grad-CAM overlay
                table.scroll_into_view_if_needed()
            finally:
                page.screenshot(path=str(ART/'browser_upload_widget.png'))
        finally: browser.close()
    assert n_buttons == 1, f'{n_buttons} upload buttons in the widget notebook'
    assert n_tables == 1, f'{n_tables} result tables: the upload should replace the notebook\'s earlier results'
    assert len(labels) == 15 and probs == sorted(probs, reverse=True)
    assert labels == exp.label.tolist() or np.allclose(probs, exp.probability.round(4), atol=1.5e-4)
    np.testing.assert_allclose(probs, exp.probability.values, atol=1.5e-4)  # the page shows 4 decimals
