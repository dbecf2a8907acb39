"The installed xraylib.datasets.phantom API: layout, formats, determinism, reuse and label frequencies."
import json, os, subprocess, sys
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from xraylib.core import LABELS
from xraylib.datasets.phantom import make_phantom_sample, phantom_dir, phantom_labels, phantom_complete
from xraylib.datasets.phantom_draw import render_phantom
from xraylib.core import SAMPLE_COLUMNS, MARKER


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    return make_phantom_sample(tmp_path_factory.mktemp('ph')/'s', n=60, size=96, seed=3)


def _csv(d): return pd.read_csv(d/'sample_labels.csv', dtype=str, keep_default_na=False)


def test_columns_equal_real_header(sample, shared):
    real = shared('nih-metadata', 'sample_labels.csv')
    header = real.read_text().splitlines()[0]
    assert (sample/'sample_labels.csv').read_text().splitlines()[0] == header
    assert list(_csv(sample).columns) == SAMPLE_COLUMNS == header.split(',')


def test_value_formats(sample):
    df = _csv(sample)
    assert len(df) == 60 and df['Image Index'].is_unique
    assert df['Image Index'].str.fullmatch(r'\d{8}_\d{3}\.png').all()
    assert (df['Image Index'].str[:8].astype(int).astype(str) == df['Patient ID']).all()
    assert (df['Image Index'].str[9:12].astype(int).astype(str) == df['Follow-up #']).all()
    assert df['Patient Age'].str.fullmatch(r'\d{3}[YMD]').all()
    assert set(df['Patient Gender']) <= {'M', 'F'} and set(df['View Position']) <= {'PA', 'AP'}
    for c in SAMPLE_COLUMNS[7:9]: assert df[c].str.fullmatch(r'\d{4}').all()
    for c in SAMPLE_COLUMNS[9:]: assert df[c].str.fullmatch(r'0\.\d+').all()
    for labs in df['Finding Labels'].str.split('|'):
        assert labs == sorted(labs) and set(labs) <= set(LABELS) and len(set(labs)) == len(labs)
        assert labs == ['No Finding'] or 'No Finding' not in labs


def test_images_gray_right_size(sample):
    df = _csv(sample)
    assert sorted(f.name for f in (sample/'images').iterdir()) == sorted(df['Image Index'])
    for f in list((sample/'images').iterdir())[:10]:
        with Image.open(f) as im: assert (im.format, im.mode, im.size) == ('PNG', 'L', (96, 96))
    assert not list(sample.glob('**/*.tmp*'))


def test_several_images_per_patient():
    df = phantom_labels(1000, seed=42)
    per = df['Patient ID'].value_counts()
    assert per.max() >= 4 and 2 <= per.mean() <= 4.5 and (per > 1).mean() > .5
    ages = df[df['Patient Age'].str.endswith('Y')]
    assert ages['Patient Age'].str[:3].astype(int).between(1, 95).all()
    assert (~df['Patient Age'].str.endswith('Y')).sum() >= 1  # a few infants in months or days


def test_patient_anatomy_persists():
    "A patient's follow-ups share anatomy and exposure: their grey-level profiles are closer than other patients'."
    q = lambda im: np.quantile(im, np.linspace(.05, .95, 19))
    Q = {p: [q(render_phantom(['No Finding'], 64, pid=p, idx=10*p + i, seed=0)) for i in range(3)] for p in range(1, 7)}
    within = np.mean([np.abs(Q[p][i] - Q[p][j]).mean() for p in Q for i in range(3) for j in range(i)])
    between = np.mean([np.abs(Q[p][0] - Q[o][0]).mean() for p in Q for o in Q if o < p])
    assert within < .7*between
    assert (render_phantom(['No Finding'], 64, pid=5, idx=1) != render_phantom(['No Finding'], 64, pid=5, idx=2)).any()


def test_reuse_force_partial(tmp_path):
    d = make_phantom_sample(tmp_path/'r', n=12, size=48, seed=1)
    marker = json.loads((d/MARKER).read_text())
    assert marker['n'] == 12 and marker['size'] == 48 and marker['seed'] == 1 and 'version' in marker
    csv_t = (d/'sample_labels.csv').stat().st_mtime_ns
    img = sorted((d/'images').iterdir())[0]; img_bytes = img.read_bytes()
    img.write_bytes(b'garbage')  # a complete sample is reused as it is...
    assert make_phantom_sample(d, n=12, size=48, seed=1) == d
    assert img.read_bytes() == b'garbage' and (d/'sample_labels.csv').stat().st_mtime_ns == csv_t
    make_phantom_sample(d, n=12, size=48, seed=1, force=True)  # ...unless forced
    assert img.read_bytes() == img_bytes
    (d/MARKER).unlink(); img.unlink()  # partial (interrupted): regenerated
    make_phantom_sample(d, n=12, size=48, seed=1)
    assert img.read_bytes() == img_bytes and phantom_complete(d, 12, 48, 1)
    make_phantom_sample(d, n=8, size=48, seed=1)  # other parameters in the same folder: rewritten, no stale images
    assert len(list((d/'images').iterdir())) == 8 and phantom_complete(d, 8, 48, 1) and not phantom_complete(d, 12, 48, 1)


def test_default_dir(tmp_path, monkeypatch):
    monkeypatch.setenv('XRAYLIB_HOME', str(tmp_path))
    assert phantom_dir(10, 32, 5) == tmp_path/'phantom'/'n10_s32_seed5'
    assert make_phantom_sample(n=10, size=32, seed=5, num_workers=0) == phantom_dir(10, 32, 5)
    assert phantom_complete(phantom_dir(10, 32, 5), 10, 32, 5)


def test_cli(tmp_path):
    "`xraylib phantom` (the real console script) writes, reports where and how long, and reuses."
    env = {**os.environ, 'XRAYLIB_HOME': str(tmp_path)}
    cmd = ['xraylib', 'phantom', '--n', '10', '--size', '32', '--dest', str(tmp_path/'c')]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    last = r.stdout.rstrip().splitlines()[-1]  # after the progress bar
    assert last.startswith('wrote 10 ') and str(tmp_path/'c') in last and last.endswith(' s'), r.stdout
    assert 'drawing 10 phantom images at 32px' in r.stdout
    assert phantom_complete(tmp_path/'c', 10, 32, 42) and len(list((tmp_path/'c'/'images').iterdir())) == 10
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith('reused'), r.stdout + r.stderr
    r = subprocess.run(['xraylib', 'phantom', '--n', '6', '--size', '32', '--seed', '7'], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and phantom_complete(tmp_path/'phantom'/'n6_s32_seed7', 6, 32, 7), r.stderr
