"What 42_inference.predict cannot check: every image format (DICOM written with pydicom) gives the same probabilities, and on the 200 real NIH images a saved model's Predictor equals the fastai learner and `xraylib predict` runs in a subprocess."
import json, subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
from xraylib.core import LABELS, set_seed
from xraylib.imaging.load import load_image
from xraylib.inference.predict import Predictor
from fakes import make_dicom

SIZE = 64


def tiny_predictor(size=SIZE, thresholds=None):
    "An untrained, seeded fastai ResNet-18 (1 channel) wrapped in a Predictor."
    from fastai.vision.all import create_vision_model, resnet18
    set_seed(0)
    meta = dict(arch='resnet18', n_in=1, size=size, resize_method='squish', normalization=dict(mean=[0.449], std=[0.226]),
                vocab=list(LABELS), thresholds=thresholds or {l: 0.5 for l in LABELS})
    return Predictor(create_vision_model(resnet18, len(LABELS), n_in=1, pretrained=False), meta)


@pytest.fixture(scope='module')
def pred(): return tiny_predictor()


@pytest.fixture(scope='module')
def xray(): 
    "A 12-bit chest-X-ray-like test image (0..4095) with structure, 96x80."
    yy, xx = np.mgrid[:96, :80]
    a = (2048 + 1500*np.sin(xx/7.) * np.cos(yy/11.)).clip(0, 4095)
    a[0, 0], a[-1, -1] = 0, 4095
    return a.astype(np.uint16)


def _sorted_ok(df):
    assert list(df.columns) == ['label', 'probability', 'threshold', 'passes']
    assert sorted(df.label) == sorted(LABELS) and df.probability.is_monotonic_decreasing
    assert (df.passes == (df.probability > df.threshold)).all()  # strictly above, the rule of every figure


def test_all_formats_same_picture_same_probs(pred, xray, tmp_path):
    a8 = np.round(xray / 4095 * 255).astype(np.uint8)
    Image.fromarray(a8).save(tmp_path/'g8.png')
    Image.fromarray(a8.astype(np.uint16) * 257).save(tmp_path/'g16.png')
    Image.fromarray(np.stack([a8]*3, -1)).save(tmp_path/'rgb.png')
    Image.fromarray(np.dstack([a8]*3 + [np.full_like(a8, 255)])).save(tmp_path/'rgba.png')
    make_dicom(xray, path=tmp_path/'m2.dcm')
    make_dicom(4095 - xray, 'MONOCHROME1', path=tmp_path/'m1.dcm')  # inverted storage, same picture
    ref = pred.predict(tmp_path/'g8.png')
    _sorted_ok(ref)
    for f in ['g16.png', 'rgb.png', 'rgba.png', 'm2.dcm', 'm1.dcm']:
        df = pred.predict(tmp_path/f); _sorted_ok(df)
        np.testing.assert_allclose(df.set_index('label').probability[LABELS], ref.set_index('label').probability[LABELS],
                                   atol=2e-3, err_msg=f)  # DICOM 12-bit -> 8-bit rounding differs by at most 1 level
    # JPEG (lossy), bytes, PIL and arrays are accepted too
    Image.fromarray(a8).save(tmp_path/'x.jpg', quality=95)
    for src in [tmp_path/'x.jpg', (tmp_path/'g8.png').read_bytes(), Image.fromarray(a8), a8, xray]:
        _sorted_ok(pred.predict(src))


def test_dicom_monochrome1_is_inverted(xray, tmp_path):
    m2 = np.asarray(load_image(make_dicom(xray, path=tmp_path/'m2.dcm')))
    m1 = np.asarray(load_image(make_dicom(xray, 'MONOCHROME1', path=tmp_path/'m1.dcm')))
    np.testing.assert_array_equal(m1.astype(int), 255 - m2.astype(int))


@pytest.fixture(scope='module')
def real(tmp_path_factory):
    "A seeded xray_learner (resnet18, 64 px, no pretraining) trained one short epoch on the 200 real images with"
    "xraylib's own data pipeline (image cache included), saved with save_model; skips when absent."
    from conftest import shared_path
    d = shared_path('nih-real-200')
    learner = pytest.importorskip('xraylib.training.learner')
    from xraylib.data.block import xray_dataloaders
    tmp = tmp_path_factory.mktemp('real')
    set_seed(0)
    dls = xray_dataloaders(d, size=SIZE, bs=32, cache_dir=tmp/'cache', quiet=True)
    learn = learner.xray_learner(dls, 'resnet18', pretrained=False)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    from xraylib.inference.modelfile import save_model
    save_model(learn, tmp/'model', thresholds={l: 0.3 for l in LABELS} | {'Hernia': None})
    return learn, sorted((d/'images').glob('*.png')), tmp/'model'


@pytest.mark.timeout(600)
def test_equals_fastai_on_200_real_images(real):
    "Predictor.from_file probabilities == the fastai learner's to 1e-5 on all 200 real NIH images."
    learn, files, mdir = real
    assert len(files) == 200
    p = Predictor.from_file(mdir)
    assert list(p.vocab) == list(learn.dls.vocab) == LABELS
    csv = mdir.parent/'preds'/'real200.csv'
    ours = p.predict_batch(files, bs=50, quiet=True, out_csv=csv)
    assert ours['Image Index'].tolist() == [f.name for f in files] and not ours.attrs['errors']
    from xraylib.evaluation.evaluate import read_predictions  # the CSV is what `xraylib evaluate` reads
    ev = read_predictions(csv, files[0].parent.parent/'labels.csv')
    assert ev.labels == LABELS and ev.preds.shape == (200, 15) and np.abs(ev.preds - ours.iloc[:, 1:].values).max() < 1e-6
    ours = ours.iloc[:, 1:].values
    with learn.no_bar():
        ref = learn.get_preds(dl=learn.dls.test_dl(files, bs=50))[0].numpy()   # the learner's inference pipeline
        one = np.stack([learn.predict(f)[2].numpy() for f in files[:3]])      # learn.predict itself on a few
        vp, _ = learn.get_preds(ds_idx=1)                                      # the training-time (cached) valid DL
    assert np.abs(ours - ref).max() < 1e-5
    assert np.abs(ours[:3] - one).max() < 1e-5
    vfiles = [Path(f).name for f in learn.dls.valid.items['path']]
    idx = [[f.name for f in files].index(n) for n in vfiles]
    assert np.abs(ours[idx] - vp.numpy()).max() < 1e-5
    single = p.predict(files[0]).set_index('label').probability[LABELS].values
    assert np.abs(single - ref[0]).max() < 1e-5


@pytest.mark.timeout(300)
def test_from_file_thresholds_and_cli(real, capsys):
    learn, files, mdir = real
    p = Predictor.from_file(mdir/'model.json')
    assert p.thresholds['Mass'] == pytest.approx(0.3) and p.thresholds['Hernia'] is None  # None: undefined, never 0.5
    assert p.spec['size'] == (SIZE, SIZE) and p.spec['method'] == 'squish'
    df = p.predict(files[1])
    assert (df.passes == (df.probability > df.threshold)).all()  # strictly above, the rule of every figure
    with pytest.raises(FileNotFoundError): Predictor.from_file(mdir.parent/'nope')
    from xraylib.cli import COMMANDS
    args = [str(mdir), str(files[0]), str(files[1]), '--json']
    if 'predict' in COMMANDS:  # the real console script
        r = subprocess.run(['xraylib', 'predict', *args], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr; out = json.loads(r.stdout)
    else:
        from xraylib.inference.predict import predict_cli
        assert predict_cli(args[0], args[1:3], json=True) == 0
        out = json.loads(capsys.readouterr().out)
    assert [o['image'] for o in out] == [str(files[0]), str(files[1])]
    probs = [r['probability'] for r in out[1]['predictions']]
    assert len(probs) == 15 and probs == sorted(probs, reverse=True)
    assert abs(max(probs) - df.probability.max()) < 1e-5
    # a bad file: reported on stderr naming it, exit status 1, the good one still predicted
    bad = mdir.parent/'bad.png'; bad.write_bytes(b'nope')
    from xraylib.inference.predict import predict_cli
    assert predict_cli(str(mdir), [str(files[0]), str(bad)]) == 1
    cap = capsys.readouterr()
    assert 'bad.png' in cap.err and str(files[0]) in cap.out
    assert predict_cli(str(mdir.parent/'no-model'), [str(files[0])]) == 1
    assert 'cannot load model' in capsys.readouterr().err


def test_gradcam_input_on_model_device(pred, xray):
    "Issue 19.1 on the CPU: `gradcam(model, tensor)` moves the input with `.to(<the model's device>)` and returns a CPU NumPy array. A real CUDA check needs a GPU (tests/test_gpu.py)."
    from xraylib.inference.gradcam import gradcam
    calls, to = [], torch.Tensor.to
    def spy(self, *a, **k): calls.append(a[0] if a else k.get('device')); return to(self, *a, **k)
    x = pred.preprocess(xray)
    torch.Tensor.to = spy
    try: hm = gradcam(pred.model, x[0], 'Effusion')  # a 3-D input, as the docs allow
    finally: torch.Tensor.to = to
    assert torch.device('cpu') in calls
    assert type(hm) is np.ndarray and hm.shape == (SIZE, SIZE) and np.isfinite(hm).all()
    assert np.array_equal(hm, gradcam(pred, xray, 'Effusion'))


@pytest.mark.timeout(600)
def test_batch_cli_csv_evaluate_gradcam(real, tmp_path, capsys):
    "`xraylib predict MODEL FOLDER --csv` on the 200 real NIH images (+ an unreadable file), then `xraylib evaluate` reads the CSV; `--gradcam` writes overlays."
    learn, files, mdir = real
    folder = tmp_path/'imgs'; folder.mkdir()
    for f in files: (folder/f.name).symlink_to(f)
    (folder/'zz_bad.png').write_bytes(b'not a png')
    from xraylib.cli import COMMANDS
    from xraylib.inference.predict import predict_cli
    args = [str(mdir), str(folder), '--csv', str(tmp_path/'P.csv'), '--errors', str(tmp_path/'E.csv')]
    if 'predict' in COMMANDS:
        r = subprocess.run(['xraylib', 'predict', *args], capture_output=True, text=True, timeout=400)
        rc, err = r.returncode, r.stderr
    else: rc, err = predict_cli(args[0], [args[1]], csv=args[3], errors=args[5]), capsys.readouterr().err
    assert rc == 1 and 'zz_bad.png' in err and '1 unreadable file(s) skipped' in err  # listed at the end, the run not stopped
    P = pd.read_csv(tmp_path/'P.csv')
    assert P['Image Index'].tolist() == sorted(f.name for f in files) and list(P.columns[1:]) == [f'prob_{l}' for l in LABELS]
    assert pd.read_csv(tmp_path/'E.csv').file.tolist() == [str(folder/'zz_bad.png')]
    ev = [str(tmp_path/'P.csv'), str(files[0].parent.parent/'labels.csv')]
    r = subprocess.run(['xraylib', 'evaluate', '--preds', ev[0], '--labels', ev[1], '--out', str(tmp_path/'ev'), '--n-boot', '20'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'ev'/'metrics.json').exists()
    assert predict_cli(str(mdir), [str(f) for f in files[:2]], gradcam=str(tmp_path/'cams'), cam_label='Effusion') == 0
    cams = sorted((tmp_path/'cams').iterdir())
    assert [c.name for c in cams] == [f'{f.stem}_Effusion.png' for f in files[:2]]
    im = Image.open(cams[0]); assert im.mode == 'RGB' and max(im.size) <= 512
    assert predict_cli(str(mdir), [str(files[0])], gradcam=str(tmp_path/'c2'), cam_label='Flu') == 1
    assert 'not a label of this model' in capsys.readouterr().err
