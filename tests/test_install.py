"A plain (non-editable) install, as README's `pip install \"xraylib-cxr @ git+...\"` makes: a wheel built from the checkout, installed in a fresh virtual environment, runs `xraylib train`."
import os, shutil, subprocess, sys
from pathlib import Path
try: from conftest import REPO
except ImportError: sys.path.insert(0, str(Path(__file__).parent)); from conftest import REPO


DIST = next(l.split('=', 1)[1].strip() for l in (REPO/'settings.ini').read_text().splitlines() if l.startswith('lib_name'))


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f'{args}: {r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    return r


def test_wheel_installs_in_a_fresh_venv_and_trains(tmp_path):
    "The wheel (`pip wheel --no-deps`, from a copy of the checkout) in a venv that sees torch/fastai through `--system-site-packages`."
    src = tmp_path/'src'  # a copy: building in the checkout would leave build/ and *.egg-info there
    src.mkdir()
    for f in ('setup.py', 'settings.ini', 'README.md', 'LICENSE'): shutil.copy(REPO/f, src/f)
    shutil.copytree(REPO/'xraylib', src/'xraylib', ignore=shutil.ignore_patterns('__pycache__'))
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}  # nothing points at a checkout
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path/'dist'), str(src)], env=env)
    whl, = (tmp_path/'dist').glob(f"{DIST.replace('-', '_')}-*.whl")  # the distribution's name, not the import name
    venv = tmp_path/'venv'
    _run([sys.executable, '-m', 'venv', '--system-site-packages', str(venv)], env=env)
    py, bin_ = venv/'bin'/'python', venv/'bin'
    _run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', str(whl)], env=env)
    where = _run([str(py), '-c', 'import xraylib, xraylib.learner; print(xraylib.__file__); print(xraylib.learner.__file__)'],
                 env=env, cwd=tmp_path).stdout.split()
    assert all(Path(w).is_relative_to(venv) for w in where), where  # the wheel's copy, not an editable checkout
    run_env = {**env, 'PATH': f'{bin_}{os.pathsep}{env["PATH"]}', 'XRAYLIB_HOME': str(tmp_path/'home')}
    r = _run([str(bin_/'xraylib'), 'train', '--n', '48', '--size', '32', '--bs', '16', '--epochs', '1', '--pretrained', 'no',
              '--out', str(tmp_path/'run')], env=run_env, cwd=tmp_path)
    assert 'mean validation AUROC' in r.stdout, r.stdout
    assert {'model.safetensors', 'model.json', 'metrics.json'} <= {p.name for p in (tmp_path/'run').iterdir()}
