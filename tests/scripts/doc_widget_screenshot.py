"""Screenshot `upload_widget` after a real upload in JupyterLab, for the home page: nbs/images/upload_widget.png.

Uses the model the tutorial (nbs/90_tutorial_nih_sample.ipynb) saved in nbs/runs/tutorial/model and one of its
validation images, as tests/test_browser.py does: JupyterLab on localhost, headless Chromium via Playwright, the
file set on the widget's own <input type=file>. Run the tutorial first (its full run:
`XRAYLIB_DOC_IMAGES=1 XRAYLIB_TEST_FLAGS=slow pytest tests/test_notebooks.py -k tutorial`), then
`python tests/scripts/doc_widget_screenshot.py`. Needs jupyterlab, playwright and /usr/bin/chromium.
"""
import os, sys, json, time, signal, socket, secrets, subprocess, tempfile, urllib.request, argparse, io
from pathlib import Path
import pandas as pd
from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[2]
NBS = REPO/'nbs'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']


def example_image(run:Path)->Path:
    "The tutorial's validation image with the most confident true finding, found in nbs/data or ~/.xraylib."
    v = pd.read_csv(run/'valid_preds.csv')
    labs = [c[5:] for c in v.columns if c.startswith('prob_') and c[5:] != 'No Finding']
    score = pd.concat([v[f'prob_{l}'] * v[l] for l in labs], axis=1).max(axis=1)
    name = v.loc[score.idxmax(), 'Image Index']
    for d in [*sorted((NBS/'data').glob('*/images')), Path('~/.xraylib/nih-sample/images').expanduser()]:
        if (d/name).is_file(): return d/name
    sys.exit(f'{name} not found under nbs/data/*/images or ~/.xraylib/nih-sample/images: run the tutorial first')


def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def main(model:Path, image:Path, out:Path, chromium:str):
    from playwright.sync_api import sync_playwright, TimeoutError as PWTimeout
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-shot-'))
    src = (f'from xraylib.inference.predict import Predictor\nfrom xraylib.serving.widgets import upload_widget\n'
           f'w = upload_widget(Predictor.from_file({str(model)!r}))\nw')
    cell = dict(cell_type='code', execution_count=None, id='shot0001', metadata={}, outputs=[], source=src)
    (tmp/'widget.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, cells=[cell],
        metadata=dict(kernelspec=dict(name='python3', display_name='Python 3 (ipykernel)', language='python')))))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp/'cfg'), JUPYTER_RUNTIME_DIR=str(tmp/'rt'),
               JUPYTERLAB_SETTINGS_DIR=str(tmp/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp/'ws'), PYTHONWARNINGS='ignore')
    cmd = [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp}', '--ServerApp.open_browser=False',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')
    log = open(tmp/'lab.log', 'w')
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, t0 = f'http://127.0.0.1:{port}', time.time()
        while True:
            if proc.poll() is not None: sys.exit(f'jupyter lab exited:\n{(tmp/"lab.log").read_text()[-2000:]}')
            try: urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2); break
            except Exception:
                if time.time() - t0 > 90: sys.exit('jupyter lab did not start in 90 s')
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={'width': 1400, 'height': 1000})
                page.set_default_timeout(60_000)
                page.goto(f'{url}/lab/tree/widget.ipynb?token={token}')
                page.wait_for_selector('.jp-NotebookPanel .jp-Cell', timeout=90_000)
                try: page.locator('.jp-Dialog .jp-mod-accept').click(timeout=20_000)
                except PWTimeout: pass
                page.wait_for_selector('.jp-Dialog', state='detached', timeout=30_000)
                try: page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current').click(timeout=5_000)  # room for the output
                except PWTimeout: pass
                page.get_by_role('menuitem', name='Run', exact=True).click()
                page.get_by_text('Run All Cells', exact=True).click()
                button = page.locator('.jp-OutputArea .widget-upload')
                button.wait_for(timeout=180_000)
                with page.expect_file_chooser() as fc: button.click()
                fc.value.element.set_input_files(str(image))
                page.locator('table.xraylib-preds tbody tr').nth(14).wait_for(state='attached', timeout=120_000)
                page.locator('.jp-OutputArea img').first.wait_for(timeout=60_000)
                time.sleep(1)
                png = page.locator('.jp-OutputArea-output').last.screenshot()
            finally: browser.close()
    finally:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(timeout=10)
        log.close()
    im = Image.open(io.BytesIO(png)).convert('RGB')
    box = ImageChops.difference(im, Image.new('RGB', im.size, 'white')).getbbox()  # trim the empty right side
    if box: im = im.crop((0, 0, min(im.width, box[2] + 12), im.height))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f'.{out.name}.tmp')
    im.quantize(256, method=Image.Quantize.MEDIANCUT).save(tmp_out, format='PNG', optimize=True)  # small file for the repo
    os.replace(tmp_out, out)
    print(f'{out}: {im.size[0]}x{im.size[1]}, {out.stat().st_size/1024:.0f} KB (model {model}, image {image.name})')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', default=str(NBS/'runs'/'tutorial'), help="the tutorial's output folder")
    ap.add_argument('--image', default=None, help='the X-ray to upload (default: a validation image of the run)')
    ap.add_argument('--out', default=str(NBS/'images'/'upload_widget.png'))
    ap.add_argument('--chromium', default=os.environ.get('XRAYLIB_CHROMIUM', '/usr/bin/chromium'))
    a = ap.parse_args()
    run = Path(a.run)
    main(run/'model', Path(a.image) if a.image else example_image(run), Path(a.out), a.chromium)
