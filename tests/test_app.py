"""`xraylib serve` end to end: the real console script on a free localhost port, driven by headless Chromium (Playwright).

A tiny model is trained with `xraylib train` (phantom, 32 px, one epoch: its metrics.json feeds the model card). The
test uploads a real NIH PNG from ../shared, reads the label table from the page and compares it with
`Predictor.predict` on the same file, waits for the Grad-CAM image, saves a screenshot to tests/_artifacts/, uploads a
truncated PNG and a text file named .png (a clear message each), then a good PNG again (still answered), stops the
server with SIGTERM and checks that its temporary folder is gone. Needs the `app` extra (gradio), `playwright` and
Debian's `chromium`; skips with the reason when absent, fails instead in CI (XRAYLIB_REQUIRE_BROWSER=1).
"""
import os, sys, time, signal, socket, subprocess, urllib.request
from pathlib import Path
import numpy as np, pytest

from conftest import ART, CHROMIUM, ARGS, need_browser, free_port


def _need(): need_browser('app browser test', {'playwright': 'playwright', 'gradio': '-e ".[app]"'})


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "`xraylib train` on a 48-image phantom at 32 px, one epoch (~30 s): model files + metrics.json."
    pytest.importorskip('gradio', reason='xraylib serve needs the app extra: pip install -e ".[app]"')
    d = tmp_path_factory.mktemp('app')
    r = subprocess.run(['xraylib', 'train', '--data', 'phantom', '--n', '48', '--size', '32', '--epochs', '1', '--freeze-epochs', '0',
                        '--arch', 'resnet18', '--bs', '16', '--no-pretrained', '--out', str(d/'run'), '--n-boot', '20',
                        '--num-workers', '0', '--no-download', '--quiet'],
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'XRAYLIB_HOME': str(d/'home')})
    assert r.returncode == 0, r.stderr[-3000:]
    return d/'run'


def start_server(model, tmp, *args, env=None):
    "`xraylib serve MODEL --port P *args` with TMPDIR=tmp/'tmp'; returns (proc, url, log path) once it answers."
    port = free_port(); (tmp/'tmp').mkdir(exist_ok=True)
    log = tmp/f'serve-{port}.log'
    env = {**os.environ, 'TMPDIR': str(tmp/'tmp'), 'GRADIO_ANALYTICS_ENABLED': 'False', 'PYTHONWARNINGS': 'ignore', **(env or {})}
    env.pop('GRADIO_TEMP_DIR', None)
    with open(log, 'w') as f:
        proc = subprocess.Popen(['xraylib', 'serve', str(model), '--port', str(port), *args], stdout=f, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    url, t0 = f'http://127.0.0.1:{port}', time.time()
    while True:
        if proc.poll() is not None: pytest.fail(f'xraylib serve exited early:\n{log.read_text()[-3000:]}')
        try: urllib.request.urlopen(url, timeout=2); return proc, url, log
        except Exception as e:
            if getattr(e, 'code', None) == 401: return proc, url, log  # asks for a password: it is up
            if time.time() - t0 > 120: stop(proc); pytest.fail(f'xraylib serve did not answer in 120 s:\n{log.read_text()[-3000:]}')
            time.sleep(0.3)


def stop(proc)->int:
    "SIGTERM, as a service manager stops it; the exit status."
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: pass
    try: return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); return proc.wait(timeout=10)


def _table(page, name):
    "The label table the page shows for file `name`: labels and probabilities, in page order."
    table = page.locator('table.xraylib-preds', has=page.locator('caption', has_text=name))
    table.wait_for(timeout=60_000)
    rows = table.locator('tbody tr')
    return ([rows.nth(i).locator('td').nth(0).inner_text().strip() for i in range(rows.count())],
            [float(rows.nth(i).locator('td.prob').inner_text()) for i in range(rows.count())],
            [rows.nth(i).get_attribute('class') for i in range(rows.count())])


def _upload(page, files):
    "Clear the upload box when it holds files, then upload `files` through its <input type=file>."
    clear = page.locator('#xraylib-upload button[aria-label="Clear"]')
    if clear.count(): clear.first.click(); page.locator('#xraylib-upload input[type=file]').first.wait_for(state='attached')
    page.locator('#xraylib-upload input[type=file]').first.set_input_files([str(f) for f in files])


def _same(page, pred, png):
    labels, probs, classes = _table(page, png.name)
    exp = pred.predict(png)
    assert labels == exp.label.tolist(), (labels, exp.label.tolist())
    np.testing.assert_allclose(probs, exp.probability.values, atol=1e-5, rtol=0)  # the page shows 6 decimals
    assert classes == ['pass' if p else 'fail' for p in exp.passes], classes  # the model's thresholds marked
    return exp


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_serve_in_browser(model, shared, tmp_path):
    _need()
    from playwright.sync_api import sync_playwright
    from xraylib.inference.predict import Predictor
    pngs = sorted(shared('nih-real-200', 'images').glob('*.png'))[:2]
    bad_png, text_png = tmp_path/'truncated.png', tmp_path/'notes.png'
    bad_png.write_bytes(pngs[0].read_bytes()[:len(pngs[0].read_bytes()) // 2])
    text_png.write_text('patient notes, not an image')
    pred = Predictor.from_file(model)
    proc, url, log = start_server(model, tmp_path, '--host', '127.0.0.1', '--concurrency', '2')
    ART.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={'width': 1400, 'height': 1300})
                page.set_default_timeout(30_000)
                try:
                    page.goto(url)
                    card = page.locator('#xraylib-card')
                    card.get_by_text('Research use only', exact=False).wait_for()
                    assert 'not real patients' in card.inner_text() and 'AUROC (95% CI)' in card.inner_text()
                    _upload(page, pngs[:1])
                    exp = _same(page, pred, pngs[0])
                    cam = page.locator('#xraylib-gradcam img').first
                    cam.wait_for(timeout=60_000)
                    page.wait_for_function('(img) => img.complete && img.naturalWidth > 0', arg=cam.element_handle())
                    assert f'Grad-CAM of {exp.label[0]}' in page.locator('#xraylib-gradcam').inner_text()
                    page.screenshot(path=str(ART/'browser_app.png'), full_page=True)
                    _upload(page, [bad_png, text_png])
                    errs = page.locator('#xraylib-tables .xraylib-error')
                    errs.nth(1).wait_for(timeout=60_000)
                    msgs = errs.all_inner_texts()
                    page.screenshot(path=str(ART/'browser_app_errors.png'), full_page=True)
                    assert 'could not be read' in page.locator('#xraylib-message').inner_text()
                    _upload(page, pngs[1:2])
                    _same(page, pred, pngs[1])  # the server still answers
                except Exception:
                    page.screenshot(path=str(ART/'browser_app_failed.png'), full_page=True); raise
            finally: browser.close()
    finally:
        rc = stop(proc)
    assert msgs[0] == 'truncated.png: corrupt or truncated image (image file is truncated)', msgs
    assert msgs[1].startswith('notes.png: not an image file'), msgs
    assert rc == 0, log.read_text()[-3000:]
    assert list((tmp_path/'tmp').iterdir()) == [], 'the server left files in its temporary folder'


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_password_and_upload_limit(model, shared, tmp_path):
    "`--auth user:password`: no answer without it; `--max-file-size`: a larger upload is refused, the next small one answered."
    from gradio_client import Client, handle_file
    from xraylib.inference.predict import Predictor
    small = sorted(shared('nih-real-1000-64px', 'images').glob('*.png'))[0]  # 64 px: a few kB
    big = sorted(shared('nih-real-200', 'images').glob('*.png'))[0]  # 1024 px: ~400 kB
    proc, url, log = start_server(model, tmp_path, '--auth', 'ann:s3cret', '--max-file-size', '100kb', '--max-files', '2')
    try:
        with pytest.raises(Exception): Client(url, verbose=False, download_files=False)  # the API asks for the password too
        c = Client(url, auth=('ann', 's3cret'), verbose=False, download_files=False)
        with pytest.raises(Exception, match='(?i)size|large|limit'): c.predict([handle_file(str(big))], '(none)', True, api_name='/predict')
        msg, tables, cams, probs = c.predict([handle_file(str(small))], '(none)', True, api_name='/predict')
        import requests
        r401 = requests.post(f'{url}/api/predict', files={'file': open(small, 'rb')}, timeout=60)
        r200 = requests.post(f'{url}/api/predict', files={'file': open(small, 'rb')}, auth=('ann', 's3cret'), timeout=60)
        r413 = requests.post(f'{url}/api/predict', files={'file': open(big, 'rb')}, auth=('ann', 's3cret'), timeout=60)
        r413n = requests.post(f'{url}/api/predict', files=[('file', (f'{k}.png', small.read_bytes())) for k in range(3)], auth=('ann', 's3cret'), timeout=60)
    finally: rc = stop(proc)
    exp = Predictor.from_file(model).predict(small).set_index('label').probability
    assert cams == [] and max(abs(probs[small.name][l] - exp[l]) for l in exp.index) <= 1e-5, (msg, probs)
    assert r401.status_code == 401 and 'password' in r401.json()['error'] and r401.headers['www-authenticate'].startswith('Basic')
    assert r200.status_code == 200 and r200.json()['results'][0]['file'] == small.name
    assert r413.status_code == 413 and r413.json()['file'] == big.name and 'over the upload limit' in r413.json()['error'], r413.text
    assert r413n.status_code == 413 and 'error' in r413n.json(), r413n.text  # --max-files 2: three files refused
    assert rc == 0, log.read_text()[-3000:]


@pytest.mark.slow
def test_serve_refusals_and_write_app(model, tmp_path, capsys):
    "Through the console script's `main`, in this process (no server starts): a model that cannot be loaded (even with"
    "--share: nothing is opened first) and a malformed --auth exit 1 with the reason; --write-app writes the Spaces folder."
    from xraylib.cli import main
    assert main(['serve', str(tmp_path/'nowhere'), '--share']) == 1
    assert 'nowhere: no such model folder or file' in capsys.readouterr().err
    assert main(['serve', str(model), '--auth', 'no-colon']) == 1
    assert 'give it as user:password' in capsys.readouterr().err
    assert main(['serve', str(model), '--write-app', str(tmp_path/'space')]) == 0
    files = sorted(str(f.relative_to(tmp_path/'space')) for f in (tmp_path/'space').rglob('*') if f.is_file())
    ref = ['model/reference.safetensors'] if (model/'reference.safetensors').exists() else []  # the atypicality flags' reference
    assert files == sorted(['README.md', 'app.py', 'model/metrics.json', 'model/model.json', 'model/model.safetensors',
                            'requirements.txt', *ref])
    assert (tmp_path/'space'/'model'/'model.safetensors').read_bytes() == (model/'model.safetensors').read_bytes()
    assert 'GRADIO_TEMP_DIR' not in os.environ  # nothing of the server was set up in this process


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_json_api(model, shared, tmp_path):
    "Issue 34: `POST /api/predict` beside the page (same process, same port) answers what `Predictor.predict` gives (1e-5), "
    "raw and Grad-CAM on request; a bad image is a 400 naming it, the DICOM bomb too (the server's peak memory barely moves) "
    "and the next good image is answered; no CORS headers; `GET /api/model` describes the model."
    import base64, io, requests
    from PIL import Image
    from fakes import make_dicom_bomb
    from xraylib.inference.predict import Predictor
    pngs = sorted(shared('nih-real-200', 'images').glob('*.png'))[:2]
    bomb = make_dicom_bomb(tmp_path/'bomb.dcm')
    pred, raw = Predictor.from_file(model), Predictor.from_file(model, calibrated=False)
    proc, url, log = start_server(model, tmp_path)
    hwm = lambda: int(next(l for l in open(f'/proc/{proc.pid}/status') if l.startswith('VmHWM')).split()[1]) / 1024
    post = lambda files, **data: requests.post(f'{url}/api/predict', files=[('file', (f.name, f.read_bytes())) for f in files],
                                               data=data, timeout=120)  # a cross-origin POST is a 403 (tests/test_app_attacks.py)
    try:
        one, two = post(pngs[:1]), post(pngs, raw='1', gradcam='top')
        peak0 = hwm(); t = time.time(); r_bomb = post([bomb]); t_bomb, peak1 = time.time() - t, hwm()
        after, info = post(pngs[1:]), requests.get(f'{url}/api/model', timeout=60).json()
    finally: rc = stop(proc)
    for r, f, p in [(one, pngs[0], pred), (two, pngs[0], raw), (two, pngs[1], raw), (after, pngs[1], pred)]:
        assert r.status_code == 200, r.text
        o = next(o for o in r.json()['results'] if o['file'] == f.name)
        exp = p.predict(f)
        assert [x['label'] for x in o['predictions']] == exp.label.tolist()
        np.testing.assert_allclose([x['probability'] for x in o['predictions']], exp.probability.values, atol=1e-5, rtol=0)
        assert [x['passes'] for x in o['predictions']] == exp.passes.tolist() and [x['threshold'] for x in o['predictions']] == [None if np.isnan(v) else v for v in exp.threshold]  # undefined: null
    cam = two.json()['results'][1]['gradcam']
    assert cam['label'] == raw.predict(pngs[1]).label[0] and Image.open(io.BytesIO(base64.b64decode(cam['png']))).mode == 'RGB'
    assert 'gradcam' not in one.json()['results'][0] and not [h for h in one.headers if h.lower().startswith('access-control')]
    assert r_bomb.status_code == 400 and r_bomb.json()['results'][0]['error'].startswith('bomb.dcm: DICOM image is 30000x30000 pixels'), r_bomb.text
    assert t_bomb < 5 and peak1 - peak0 < 100, f'the bomb took {t_bomb:.1f} s and raised the peak by {peak1 - peak0:.0f} MB'
    assert info['vocab'] == pred.vocab and info['thresholds_chosen_on'] == 'validation (model.json)' and info['validation']['mean_auroc'] is not None
    assert rc == 0, log.read_text()[-3000:]


def test_import_app_changes_no_global_state():
    "Issue 32: importing xraylib.serving.app (and xraylib.serving.api) leaves `tempfile.tempdir` and `os.environ` as they were."
    code = ('import os, tempfile, torch, fastai.vision.all; '  # these two set KMP_*, TORCHINDUCTOR_CACHE_DIR and tempfile's cache themselves
            'env, tmp = dict(os.environ), tempfile.tempdir; import xraylib.serving.app, xraylib.serving.api; '
            'assert (dict(os.environ), tempfile.tempdir) == (env, tmp), set(os.environ.items()) ^ set(env.items())')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
