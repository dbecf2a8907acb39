"A plain (non-editable) install, as README's `pip install \"xraylib-cxr @ git+...\"` makes: a wheel built from the checkout, installed in a fresh virtual environment, runs `xraylib train`."
import os, shutil, subprocess, sys, importlib.util
import pytest
from pathlib import Path
try: from conftest import REPO
except ImportError: sys.path.insert(0, str(Path(__file__).parent)); from conftest import REPO

pytestmark = pytest.mark.install  # slow too (conftest)


DIST = next(l.split('=', 1)[1].strip() for l in (REPO/'settings.ini').read_text().splitlines() if l.startswith('lib_name'))


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f'{args}: {r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    return r


def _site_dirs()->list:
    "The package folders this interpreter sees (a venv's own, or the system's), not the checkout or PYTHONPATH."
    skip = {Path(p).resolve() for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p} | {REPO.resolve()}
    return [p for p in sys.path if p and Path(p).name in ('site-packages', 'dist-packages') and Path(p).is_dir() and Path(p).resolve() not in skip]


def _fresh_venv(venv:Path, env:dict)->Path:
    "A venv whose python sees this interpreter's packages (torch, fastai, ...) through a .pth file: `--system-site-packages` would give the base Python's, which inside a venv lack them."
    _run([sys.executable, '-m', 'venv', str(venv)], env=env)
    py = venv/'bin'/'python'
    own = Path(_run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], env=env).stdout.strip())
    (own/'_xraylib_test_parent_site.pth').write_text('\n'.join(_site_dirs()) + '\n')  # plain paths: their own .pth files (an editable xraylib) are not run
    return py


def test_wheel_installs_in_a_fresh_venv_and_trains(tmp_path):
    "The wheel (`pip wheel --no-deps`, from a copy of the checkout) in a venv that sees the running interpreter's torch/fastai."
    src = tmp_path/'src'  # a copy: building in the checkout would leave build/ and *.egg-info there
    src.mkdir()
    for f in ('setup.py', 'settings.ini', 'README.md', 'LICENSE'): shutil.copy(REPO/f, src/f)
    shutil.copytree(REPO/'xraylib', src/'xraylib', ignore=shutil.ignore_patterns('__pycache__'))
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}  # nothing points at a checkout
    offline = ['--no-build-isolation'] if importlib.util.find_spec('setuptools') else []  # a plain venv of Python 3.12+ has no setuptools: pip fetches it
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', *offline, '-q', '-w', str(tmp_path/'dist'), str(src)], env=env)
    whl, = (tmp_path/'dist').glob(f"{DIST.replace('-', '_')}-*.whl")  # the distribution's name, not the import name
    venv = tmp_path/'venv'
    py, bin_ = _fresh_venv(venv, env), venv/'bin'
    _run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', str(whl)], env=env)
    where = _run([str(py), '-c', 'import xraylib, xraylib.training.learner; print(xraylib.__file__); print(xraylib.training.learner.__file__)'],
                 env=env, cwd=tmp_path).stdout.split()
    assert all(Path(w).is_relative_to(venv) for w in where), where  # the wheel's copy, not an editable checkout
    run_env = {**env, 'PATH': f'{bin_}{os.pathsep}{env["PATH"]}', 'XRAYLIB_HOME': str(tmp_path/'home')}
    r = _run([str(bin_/'xraylib'), 'train', '--n', '48', '--size', '32', '--bs', '16', '--epochs', '1', '--no-pretrained',
              '--out', str(tmp_path/'run')], env=run_env, cwd=tmp_path)
    assert 'mean validation AUROC' in r.stdout, r.stdout
    assert {'model.safetensors', 'model.json', 'metrics.json'} <= {p.name for p in (tmp_path/'run').iterdir()}
