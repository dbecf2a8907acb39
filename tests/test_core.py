"The installed xraylib.core API."
import io
import numpy as np
import pytest
from PIL import Image
from xraylib.core import LABELS, PATHOLOGIES, NO_FINDING, set_seed, load_image, ImageLoadError, atomic_write


def test_labels_standard_order():
    assert PATHOLOGIES[:3] == ['Atelectasis', 'Cardiomegaly', 'Effusion']
    assert PATHOLOGIES[-2:] == ['Pleural_Thickening', 'Hernia']
    assert LABELS == PATHOLOGIES + [NO_FINDING] and NO_FINDING == 'No Finding'


def test_set_seed_repeats():
    import torch
    set_seed(1); a = torch.rand(4)
    set_seed(1); assert torch.equal(a, torch.rand(4))


def test_real_png_rgba_and_gray(shared):
    d = shared('nih-real-200', 'images')
    modes = {}
    for f in sorted(d.glob('*.png')):
        with Image.open(f) as im: modes.setdefault(im.mode, f)
    assert 'RGBA' in modes and 'L' in modes
    for mode, f in modes.items():
        im = load_image(f)
        assert im.mode == 'L' and im.size == (1024, 1024)
    # the RGBA images have equal colour channels: grey conversion keeps the red channel exactly
    f = modes['RGBA']
    with Image.open(f) as im: r = np.asarray(im)[..., 0]
    assert np.abs(np.asarray(load_image(f)).astype(int) - r).max() <= 1


def test_fast_png_decoder_equals_pil_on_real_images(shared):
    "The fast decoder takes every 8-bit grayscale NIH PNG and returns PIL's pixels, on one thread or two; the RGBA ones go to PIL."
    from xraylib.core import decode_gray_png
    fast = 0
    for f in sorted(shared('nih-real-200', 'images').glob('*.png')):
        b = f.read_bytes()
        with Image.open(io.BytesIO(b)) as im: mode, ref = im.mode, np.asarray(im)
        a = decode_gray_png(b)
        if mode == 'L':
            assert a is not None and a.dtype == np.uint8 and np.array_equal(a, ref), f.name
            assert np.array_equal(decode_gray_png(b, threads=2), ref), f.name
            fast += 1
        else: assert a is None and decode_gray_png(b, threads=2) is None, f.name
        for threads in (1, 2):
            assert np.array_equal(np.asarray(load_image(f, threads=threads)), np.asarray(load_image(Image.open(io.BytesIO(b))))), f.name
    assert fast == 194


def test_16bit_rescaled_not_clipped(tmp_path):
    a = np.linspace(0, 65535, 32*32).astype(np.uint16).reshape(32, 32)
    Image.fromarray(a).save(tmp_path/'x16.png')
    out = np.asarray(load_image(tmp_path/'x16.png'))
    assert out.min() == 0 and out.max() == 255 and len(np.unique(out)) > 200


def test_bad_files_named(tmp_path):
    (tmp_path/'empty.png').write_bytes(b'')
    (tmp_path/'text.png').write_text('not an image')
    with pytest.raises(ImageLoadError, match='empty.png: empty file'): load_image(tmp_path/'empty.png')
    with pytest.raises(ImageLoadError, match='text.png: not an image file'): load_image(tmp_path/'text.png')


def test_atomic_write_keeps_old_on_error(tmp_path):
    p = tmp_path/'m.json'
    with atomic_write(p) as f: f.write('{}')
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(p) as f: f.write('{"half'); raise KeyboardInterrupt
    assert p.read_text() == '{}' and [o.name for o in tmp_path.iterdir()] == ['m.json']


def test_design_public_names():
    "Every public name that ../shared/DESIGN.md plans is importable from its planned module."
    import importlib
    planned = {'xraylib.core': 'PATHOLOGIES NO_FINDING LABELS set_seed',
               'xraylib.data': 'make_phantom_sample download_nih_sample load_labels label_counts patient_splitter '
                               'official_splitter xray_dblock xray_dataloaders',
               'xraylib.learner': 'xray_learner save_model load_model',
               'xraylib.thresholds': 'threshold_sweep best_threshold per_label_thresholds plot_threshold_sweep',
               'xraylib.evaluate': 'auroc_table confusion_at plot_roc plot_pr plot_confusion evaluation_report',
               'xraylib.predict': 'load_image Predictor list_preds gradcam',
               'xraylib.widgets': 'upload_widget', 'xraylib.cli': 'main'}
    missing = [f'{m}.{n}' for m, names in planned.items() for n in names.split()
               if not hasattr(importlib.import_module(m), n)]
    assert not missing, missing


def test_without_numba_and_isal_load_image_falls_back_to_pil(shared):
    "numba and isal are optional: blocked, xraylib imports and decodes a real NIH PNG with PIL, pixel-equal."
    import subprocess, sys
    f = sorted(shared('nih-real-200', 'images').glob('*.png'))[0]
    code = ("import sys; sys.modules['numba'] = sys.modules['isal'] = None\n"
            "import numpy as np, xraylib.core, xraylib.data\nfrom PIL import Image\n"
            "from xraylib.core import load_image, decode_gray_png\n"
            f"f = {str(f)!r}; assert decode_gray_png(open(f, 'rb').read()) is None\n"
            "assert np.array_equal(np.asarray(load_image(f)), np.asarray(Image.open(f).convert('L')))\n"
            "assert 'numba' not in sys.modules or sys.modules['numba'] is None\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
