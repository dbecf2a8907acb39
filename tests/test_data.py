"Tests of xraylib.data.block: label files, counts, splits and DataLoaders (real data via the `shared` fixture)."
import os, warnings
import numpy as np, pandas as pd, pytest, torch
from xraylib.core import LABELS
from xraylib.data.block import (load_labels, label_counts, plot_label_counts, xray_dataloaders, xray_dblock, get_x,
                                get_y, XRAY_MEAN, XRAY_STD, XrayAugment, CachedTfmdDL)
from xraylib.data.splits import patient_splitter
from xraylib.data.cache import build_cache, cache_folder

COUNTS = {'No Finding': 3044, 'Infiltration': 967, 'Effusion': 644, 'Atelectasis': 508, 'Nodule': 313, 'Mass': 284,
          'Pneumothorax': 271, 'Consolidation': 226, 'Pleural_Thickening': 176, 'Cardiomegaly': 141, 'Emphysema': 127,
          'Edema': 118, 'Fibrosis': 84, 'Pneumonia': 62, 'Hernia': 13}
HDR = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n'


@pytest.fixture(scope='module')
def sample():
    from conftest import shared_path
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return load_labels(shared_path('nih-metadata', 'sample_labels.csv'))


def test_sample_counts(sample):
    assert len(sample) == 5606
    assert sample.patient.nunique() == 4230
    c = label_counts(sample)
    assert c.to_dict() == COUNTS and list(c.index) == list(COUNTS)
    assert sample.labels.map(len).sum() == sum(COUNTS.values())
    assert all(ls == [l for l in LABELS if l in ls] for ls in sample.labels)  # LABELS order
    assert sample.age.notna().all() and sample.age.dtype == float
    assert set(sample.sex) == {'M', 'F'} and set(sample.view) == {'PA', 'AP'}


def test_v2020_counts(shared):
    f = shared('nih-metadata', 'Data_Entry_2017_v2020.csv.gz')
    with pytest.warns(UserWarning, match='all 112,120 listed images are not on disk'):
        df = load_labels(f)
    assert len(df) == 112120 and df.patient.nunique() == 30805
    assert len(df.attrs['missing']) == 112120 and df.path.isna().all()
    assert df.age.dtype == float and df.age.iloc[0] == 57.0
    assert label_counts(df)['No Finding'] == 60361


def _write(tmp_path, rows, name='sample_labels.csv', header=HDR):
    f = tmp_path/name; f.write_text(header + ''.join(r + '\n' for r in rows)); return f


def test_missing_images_reported(tmp_path):
    _write(tmp_path, ['a_000.png,Mass,0,1,058Y,M,PA', 'b_000.png,No Finding,0,2,030Y,F,AP', 'c_000.png,Hernia,0,3,010D,F,AP'])
    (tmp_path/'images').mkdir()
    (tmp_path/'images'/'a_000.png').write_bytes(b'x')
    with pytest.warns(UserWarning, match=r"2 of the 3 listed images are not on disk.*b_000.png"):
        df = load_labels(tmp_path)  # a folder: finds sample_labels.csv and images/
    assert df.attrs['missing'] == ['b_000.png', 'c_000.png']
    assert df.path[0] == str(tmp_path/'images'/'a_000.png') and df.path[1] is None


def test_images_in_nih_subfolders(tmp_path):
    _write(tmp_path, ['a_000.png,Mass,0,1,58,M,PA'], name='Data_Entry_2017.csv')
    (tmp_path/'images_001'/'images').mkdir(parents=True)
    (tmp_path/'images_001'/'images'/'a_000.png').write_bytes(b'x')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        df = load_labels(tmp_path)
    assert df.path[0].endswith('images_001/images/a_000.png')


def test_v2020_header_and_trailing_column(tmp_path):
    h = HDR.strip() + ',OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n'
    f = _write(tmp_path, ['a_000.png,Effusion|Mass,0,7,61,F,PA,2500,2048,0.14,0.14,'], header=h)
    df = load_labels(f, check_images=False)
    assert df.labels[0] == ['Effusion', 'Mass'] and df.patient[0] == 7 and df.age[0] == 61.0
    assert df[LABELS].iloc[0].sum() == 2


def test_patient_split_real(sample):
    tr, va = patient_splitter()(sample)
    assert sorted(tr + va) == list(range(len(sample)))
    assert not set(sample.patient[tr]) & set(sample.patient[va])
    assert len(va) / len(sample) == pytest.approx(0.2, abs=0.01)
    vpos = sample.iloc[va][LABELS].sum()
    assert (vpos > 0).all() and (vpos / sample[LABELS].sum()).between(0.15, 0.3).all()  # Hernia too
    assert patient_splitter()(sample) == (tr, va)
    assert patient_splitter(seed=1)(sample) != (tr, va)


def test_plot_label_counts(sample, tmp_path):
    fig = plot_label_counts(sample)
    ax = fig.axes[0]
    assert len(ax.patches) == 15 and ax.get_yticklabels()[-1].get_text() == 'No Finding'
    fig.savefig(tmp_path/'counts.png')


@pytest.mark.parametrize('cache', [True, False])
def test_dataloaders_real_batch(shared, tmp_path, cache):
    d = shared('nih-real-200')
    dls = xray_dataloaders(d, size=64, bs=4, device='cpu', cache=cache, cache_dir=tmp_path, quiet=True)
    assert isinstance(dls.train, CachedTfmdDL) == cache and dls.split_summary['cached'] == cache
    assert list(dls.vocab) == LABELS
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 1, 64, 64) and yb.shape == (4, 15)
    assert set(yb.unique().tolist()) <= {0., 1.} and (yb.sum(1) >= 1).all()
    # targets are the rows' labels, in LABELS order
    df = dls.items_df
    xs, ys = dls.valid.one_batch()
    items = dls.valid.items
    for i in range(len(ys)):
        row = items.iloc[i]
        assert ys[i].tolist() == [float(l in row['labels']) for l in LABELS]
    s = dls.split_summary
    assert s['n_train'] + s['n_valid'] == 200 and s['patients_shared'] == 0
    assert abs(xb.mean().item()) < 3  # normalised with XRAY_MEAN/XRAY_STD


def test_get_x_get_y(shared):
    d = shared('nih-real-200', 'images')
    f = sorted(d.glob('*.png'))[0]
    row = pd.Series({'path': str(f), 'labels': ['Mass']})
    assert get_x(row).mode == 'L' and get_x(str(f)).size == (1024, 1024)
    assert get_y(row) == ['Mass']
    with pytest.raises(FileNotFoundError): get_x(pd.Series({'path': None}))


def test_no_vertical_flip():
    names = [type(t).__name__ for t in xray_dblock(aug=True).batch_tfms]
    assert 'Flip' not in names and 'Normalize' in names
    assert (XRAY_MEAN, XRAY_STD) == (0.449, 0.226)


def _pngs(d, n=3, shape=(90, 70)):
    from PIL import Image
    rng = np.random.default_rng(0); out = []
    for i in range(n):
        out.append(str(d/f'im{i}.png')); Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(out[-1])
    return out


def test_cache_killed_build_leaves_no_cache(tmp_path, monkeypatch):
    import xraylib.data.cache as xc
    src = _pngs(tmp_path, 3)
    def boom(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(xc, '_run_jobs', boom)
    with pytest.raises(KeyboardInterrupt): build_cache(src, 16, tmp_path/'c', quiet=True)
    folder = cache_folder(src, 16, tmp_path/'c')
    assert not (folder/'cache.json').exists() and not list(folder.glob('images-*'))  # only the partial build, to resume
    assert sorted(o.name for o in folder.glob('.partial*')) == ['.partial.done', '.partial.stat.npy', '.partial.u8']
    monkeypatch.undo()
    file, _ = build_cache(src, 16, tmp_path/'c', quiet=True)
    assert os.path.exists(file) and not list(folder.glob('.partial*'))


def test_cache_killed_mid_build_resumes(tmp_path):
    "A build killed by a signal (not an exception) resumes from its done rows."
    import subprocess, sys, signal, time
    src = _pngs(tmp_path, 400)
    code = ("import sys, time, xraylib.data.cache as xc\n"
            "f = xc._fill_rows\n"
            "def slow(j): time.sleep(0.05); return f(j)\n"
            "xc._fill_rows = slow\n"
            f"xc.build_cache({[str(s) for s in src]!r}, 16, {str(tmp_path/'c')!r}, num_workers=1, quiet=True)\n")
    p = subprocess.Popen([sys.executable, '-c', code])
    folder = cache_folder(src, 16, tmp_path/'c'); done = folder/'.partial.done'
    t = time.time()
    while time.time() - t < 60 and not (done.is_file() and np.fromfile(done, np.uint8).sum() >= 40): time.sleep(0.2)
    p.send_signal(signal.SIGKILL); p.wait()
    n_done = int(np.fromfile(done, np.uint8).sum())
    assert 40 <= n_done < 400
    import xraylib.data.cache as xc
    seen, real = [], xc._fill_rows
    xc._fill_rows = lambda j: (seen.extend(j[3]), real(j))[1]
    try: file, rows = build_cache(src, 16, tmp_path/'c', num_workers=1, quiet=True)
    finally: xc._fill_rows = real
    assert len(seen) == 400 - n_done
    ref, rrows = build_cache(src, 16, tmp_path/'ref', quiet=True)
    assert (xc.open_cache(file, 16)[rows] == xc.open_cache(ref, 16)[rrows]).all()


def test_cached_batches_match_uncached(shared, tmp_path):
    d = shared('nih-real-200')
    df = load_labels(d).iloc[:24]
    kw = dict(size=64, bs=8, device='cpu', aug=False, cache_dir=tmp_path, quiet=True)
    a, b = xray_dataloaders(df, cache=True, **kw), xray_dataloaders(df, cache=False, **kw)
    (xa, ya), (xb, yb) = a.valid.one_batch(), b.valid.one_batch()
    assert type(xa) == type(xb) and type(ya) == type(yb)
    assert torch.allclose(xa, xb) and torch.equal(ya, yb)
    t = a.test_dl([df.path.iloc[0]])  # file names go through the normal item pipeline
    assert t.one_batch()[0].shape == (1, 1, 64, 64)


def test_xray_augment():
    from fastai.vision.all import TensorImageBW
    torch.manual_seed(0)
    x = TensorImageBW(torch.rand(16, 1, 48, 48))
    y = XrayAugment(p=1.)(x, split_idx=0)
    assert type(y) is TensorImageBW and y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert torch.equal(XrayAugment(p=1.)(x, split_idx=1), x)  # not on validation
    # no vertical flip: with only tiny rotation/zoom, the top half stays the top half
    v = TensorImageBW(torch.zeros(4, 1, 48, 48)); v[:, :, :24] = 1
    z = XrayAugment(p=1., max_lighting=0)(v, split_idx=0)
    assert (z[:, :, :16].mean() > 0.9) and (z[:, :, 32:].mean() < 0.1)


def test_phantom_reexport_and_dataloaders(tmp_path):
    from xraylib.datasets.phantom import make_phantom_sample
    from xraylib.datasets.nih_sample import download_nih_sample
    import xraylib.datasets.phantom, xraylib.datasets.nih_sample
    assert make_phantom_sample is xraylib.datasets.phantom.make_phantom_sample
    assert download_nih_sample is xraylib.datasets.nih_sample.download_nih_sample
    ph = make_phantom_sample(tmp_path/'ph', n=30, size=64, seed=3, num_workers=0)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        df = load_labels(ph)
    assert len(df) == 30 and df.attrs['missing'] == [] and df.age.notna().all()
    dls = xray_dataloaders(ph, size=32, bs=4, device='cpu', cache_dir=tmp_path/'cache', quiet=True)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 1, 32, 32) and yb.shape == (4, 15)
    assert dls.split_summary['patients_shared'] == 0


def test_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv('XRAYLIB_HOME', str(tmp_path/'home'))
    from xraylib.data.cache import default_cache_dir
    assert default_cache_dir() == tmp_path/'home'/'cache'
    assert cache_folder(['/data/nih/images/a.png'], 224).is_relative_to(tmp_path/'home'/'cache')
    src = _pngs(tmp_path, 2)  # temp data: the cache goes beside it
    assert cache_folder(src, 32).is_relative_to(tmp_path/'.xraylib-cache')
