"What 70_serving.widgets cannot check: upload_widget's handler (no browser) with every real-world format (DICOM written with pydicom) and a real NIH image; 70_serving.widgets checks bad files, thresholds and upload values."
import io, datetime
from pathlib import Path
import numpy as np, pytest
from PIL import Image
import ipywidgets as widgets
from xraylib.core import LABELS, set_seed
from xraylib.inference.predict import Predictor
from xraylib.serving.widgets import upload_widget
from fakes import make_dicom


def _bytes(a, fmt='PNG', **kw):
    b = io.BytesIO(); Image.fromarray(a).save(b, format=fmt, **kw); return b.getvalue()


def v8(name, data): return ({'name': name, 'type': '', 'size': len(data), 'last_modified': datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), 'content': memoryview(data)},)


@pytest.fixture(scope='module')
def w():
    from fastai.vision.all import create_vision_model, resnet18
    set_seed(0)
    meta = dict(arch='resnet18', n_in=1, size=64, resize_method='squish', normalization=dict(mean=[0.449], std=[0.226]),
                vocab=list(LABELS), thresholds={l: (0.3 if l == 'Hernia' else 0.5) for l in LABELS})
    return upload_widget(Predictor(create_vision_model(resnet18, len(LABELS), n_in=1, pretrained=False), meta))


@pytest.fixture(scope='module')
def x12():
    yy, xx = np.mgrid[:120, :100]
    a = (2048 + 1800*np.sin(xx/8.) * np.cos(yy/12.)).clip(0, 4095)
    a[0, 0], a[-1, -1] = 0, 4095
    return a.astype(np.uint16)


def _check_sorted(w, res, name):
    assert len(res) == 1 and 'error' not in res[0], res
    df = res[0]['predictions']
    assert sorted(df.label) == sorted(LABELS) and df.probability.is_monotonic_decreasing
    assert (df.passes == (df.probability > df.threshold)).all()  # strictly above, the rule of every figure
    html = w.out.children[0].children[0].value  # the table shown in the widget
    pos = [html.index(f'>{l}<') for l in df.label]
    assert pos == sorted(pos), 'labels not shown in probability order'
    assert html.count('class="pass"') == int(df.passes.sum())
    assert name in html and isinstance(w.out.children[0].children[1], widgets.Image)  # Grad-CAM overlay
    assert w.out.children[0].children[1].value[:4] == b'\x89PNG'
    return df


def test_formats_give_sorted_predictions(w, x12):
    a8 = np.round(x12 / 4095 * 255).astype(np.uint8)
    cases = {'xray.png': _bytes(a8), 'xray16.png': _bytes(a8.astype(np.uint16) * 257),
             'xray.jpg': _bytes(a8, 'JPEG', quality=95), 'xray_m2.dcm': make_dicom(x12),
             'xray_m1.dcm': make_dicom(4095 - x12, 'MONOCHROME1')}
    dfs = {n: _check_sorted(w, w.handle_upload(v8(n, b)), n).set_index('label').probability[LABELS] for n, b in cases.items()}
    ref = dfs['xray.png']
    for n in ['xray16.png', 'xray_m2.dcm', 'xray_m1.dcm']:  # the same picture, however stored
        np.testing.assert_allclose(dfs[n], ref, atol=2e-3, err_msg=n)


def test_real_nih_png(w, shared):
    f = sorted(shared('nih-real-200', 'images').glob('*.png'))[0]
    df = _check_sorted(w, w.handle_upload(v8(f.name, f.read_bytes())), f.name)
    exp = w.predictor.predict(f)
    np.testing.assert_allclose(df.probability.values, exp.probability.values, atol=1e-6)
