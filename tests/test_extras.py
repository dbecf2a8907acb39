"""Without the `fast` extra (numba, isal, onnx, onnxruntime) xraylib decodes with PIL and predicts with PyTorch:
the same pixels and the same probabilities (to 1e-5) as with it. Each run blocks the extra's modules in a fresh
process, as a runtime-only install (the package without the `fast` extra) would lack them."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pytest

pytestmark = pytest.mark.slow  # trains a model

FAST = ['numba', 'isal', 'onnx', 'onnxruntime']
PROBE = r'''
import sys, json
for m in {blocked}: sys.modules[m] = None  # `import m` now raises ImportError, as if not installed
import numpy as np
from xraylib.imaging.load import load_image
from xraylib.inference.predict import Predictor
p = Predictor.from_file({model!r})
imgs = {images!r}
print(json.dumps(dict(engine=type(p.infer_model).__name__, pixels=[int(np.asarray(load_image(f)).astype(np.int64).sum()) for f in imgs],
                      probs=p.probs(imgs).tolist(), loaded=sorted(m for m in {fast} if sys.modules.get(m) is not None))))
'''


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_sample
    from xraylib.training.learner import train
    d = tmp_path_factory.mktemp('extras')
    src = make_phantom_sample(d/'ph', n=40, size=64, seed=4, num_workers=0)
    train(str(src), arch='resnet18', size=32, bs=16, epochs=1, pretrained=False, out=d/'run', quiet=True, n_boot=10)
    return d/'run', sorted(str(p) for p in (src/'images').glob('*.png'))[:4]


def _probe(model, images, blocked):
    code = PROBE.format(blocked=blocked, model=str(model), images=images, fast=FAST)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_without_fast_extra_same_pixels_and_probabilities(model):
    from conftest import SHARED
    out, imgs = model
    real = SHARED/'nih-real-200'  # real 1024 px NIH PNGs, the fast decoder's own kind of file, when ../shared is there
    imgs = imgs + sorted(str(p) for p in real.rglob('*.png'))[:2]
    fast, slow = _probe(out, imgs, []), _probe(out, imgs, FAST)
    assert slow['loaded'] == [] and slow['engine'] != 'OnnxModel'
    assert fast['pixels'] == slow['pixels']
    np.testing.assert_allclose(fast['probs'], slow['probs'], atol=1e-5)
