"xraylib.core beyond its notebook: real NIH images from ../shared, the planned public names, and decoding without numba."
import io
import numpy as np
import pytest
from PIL import Image
from xraylib.imaging.load import load_image


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
    from xraylib.imaging.png import decode_gray_png
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


def test_design_public_names():
    "Every public name that ../shared/DESIGN.md plans is importable from the module of its stage that defines it (issue 42)."
    import importlib
    planned = {'xraylib.core': 'PATHOLOGIES NO_FINDING LABELS set_seed',
               'xraylib.datasets.phantom': 'make_phantom_sample', 'xraylib.datasets.nih_sample': 'download_nih_sample',
               'xraylib.data.block': 'load_labels label_counts xray_dblock xray_dataloaders',
               'xraylib.data.splits': 'patient_splitter official_splitter',
               'xraylib.datasets.kermany': 'download_kermany KERMANY_DATASET KERMANY_COUNTS default_kermany_dest verify_kermany',
               'xraylib.training.learner': 'xray_learner', 'xraylib.inference.modelfile': 'save_model load_model',
               'xraylib.evaluation.thresholds': 'threshold_sweep best_threshold per_label_thresholds plot_threshold_sweep',
               'xraylib.evaluation.evaluate': 'auroc_table confusion_at evaluation_report',
               'xraylib.evaluation.plots': 'plot_roc plot_pr plot_confusion', 'xraylib.imaging.load': 'load_image',
               'xraylib.inference.predict': 'Predictor list_preds', 'xraylib.inference.gradcam': 'gradcam',
               'xraylib.serving.widgets': 'upload_widget', 'xraylib.cli': 'main'}
    missing = [f'{m}.{n}' for m, names in planned.items() for n in names.split()
               if not hasattr(importlib.import_module(m), n)]
    assert not missing, missing


def test_without_numba_and_isal_load_image_falls_back_to_pil(shared):
    "numba and isal are optional: blocked, xraylib imports and decodes a real NIH PNG with PIL, pixel-equal."
    import subprocess, sys
    f = sorted(shared('nih-real-200', 'images').glob('*.png'))[0]
    code = ("import sys; sys.modules['numba'] = sys.modules['isal'] = None\n"
            "import numpy as np, xraylib.imaging.load, xraylib.data.block\nfrom PIL import Image\n"
            "from xraylib.imaging.load import load_image\nfrom xraylib.imaging.png import decode_gray_png\n"
            f"f = {str(f)!r}; assert decode_gray_png(open(f, 'rb').read()) is None\n"
            "assert np.array_equal(np.asarray(load_image(f)), np.asarray(Image.open(f).convert('L')))\n"
            "assert 'numba' not in sys.modules or sys.modules['numba'] is None\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_real_datasets_pass_the_degenerate_image_limits(shared, tmp_path):
    "`load_image`'s size/aspect refusal lets through every 64 px NIH PNG, every 224 px Kermany test JPEG and 32 px phantom images."
    from xraylib.datasets.phantom import make_phantom_sample
    nih = sorted(shared('nih-real-1000-64px').rglob('*.png'))
    kermany = sorted(shared('kermany-pneumonia-224', 'chest_xray', 'test').rglob('*.jpeg'))
    phantom = sorted((make_phantom_sample(tmp_path/'ph', n=8, size=32, seed=0, num_workers=1)/'images').glob('*.png'))
    assert (len(nih), len(kermany), len(phantom)) == (1000, 624, 8)
    for files, size in ((nih, (64, 64)), (kermany, (224, 224)), (phantom, (32, 32))):
        assert {load_image(f).size for f in files} == {size}
