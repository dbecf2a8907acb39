"""What a Colab GPU user runs, on a CUDA GPU; skipped here (no GPU) with the reason. On a lent GPU:
`pytest tests/test_gpu.py -v`, and `python tests/scripts/gpu_check.py` for the figures BENCHMARKS.md records.
Resume on a GPU: the weights, optimizer (moved to the parameters' device), CPU and CUDA random generators and the
fp16 loss scaler are restored, so a resumed run follows the same schedule and data order; cuDNN's convolution
algorithms are not deterministic, so it matches an uninterrupted run to a tolerance (probabilities within 1e-3),
not bit for bit."""
import json
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU (run it on a lent GPU or on Colab)'),
              pytest.mark.slow]
KW = dict(arch='resnet18', size=64, bs=32, epochs=2, pretrained=False, quiet=True, n_boot=20)


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('gpu'), n=200, size=128, seed=0, num_workers=0)


@pytest.fixture(scope='module')
def gpu_run(phantom, tmp_path_factory):
    from xraylib.training.learner import train
    out = tmp_path_factory.mktemp('run')
    return out, train(str(phantom), out=out, channels_last=True, fp16=None, **KW)  # one MixedPrecision, channels-last


def _probs(out): 
    p = pd.read_csv(Path(out)/'valid_preds.csv'); return p[[c for c in p.columns if c.startswith('prob_')]].to_numpy()


def test_channels_last_fp16_trains(gpu_run):
    out, res = gpu_run
    assert np.isfinite(res['mean_auroc']) and (out/'model.json').exists()
    assert json.loads((out/'metrics.json').read_text())['training']['arch'] == 'resnet18'


def test_resume_gpu_to_gpu_matches_uninterrupted(phantom, gpu_run, tmp_path):
    from fastai.callback.core import Callback
    from xraylib.training.learner import train
    class CtrlC(Callback):
        def after_batch(self):
            if self.epoch == 1 and self.iter == 1: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): train(str(phantom), out=tmp_path, channels_last=True, cbs=[CtrlC()], **KW)
    train(str(phantom), out=tmp_path, channels_last=True, resume=True, **KW)
    assert np.abs(_probs(tmp_path) - _probs(gpu_run[0])).max() < 1e-3


def test_resume_cpu_checkpoint_on_gpu(phantom, tmp_path):
    "Issue 19.4: a run started on a CPU runtime (CUDA hidden) resumed on the GPU: Adam's state follows the parameters to cuda."
    import os, subprocess
    from xraylib.training.learner import train
    cmd = ['xraylib', 'train', '--data', str(phantom), '--out', str(tmp_path), '--arch', 'resnet18', '--size', '64', '--bs', '32',
           '--epochs', '2', '--no-pretrained', '--n-boot', '20', '--quiet']
    r = subprocess.run(cmd, env={**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'XRAYLIB_INTERRUPT_AT': 'epoch1'},
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 130 and (tmp_path/'checkpoint'/'state.json').exists(), r.stderr[-2000:]
    res = train(str(phantom), out=tmp_path, resume=True, **KW)
    assert np.isfinite(res['mean_auroc']) and (tmp_path/'model.json').exists() and not (tmp_path/'checkpoint').exists()


def test_predictor_cuda_equals_cpu(gpu_run, phantom):
    from xraylib.inference.predict import Predictor
    imgs = sorted(Path(phantom).glob('images/*.png'))[:8]
    cpu, gpu = Predictor.from_file(gpu_run[0]), Predictor.from_file(gpu_run[0], device='cuda')
    np.testing.assert_allclose(gpu.probs(imgs), cpu.probs(imgs), atol=1e-4)


def test_gradcam_and_widget_on_cuda(gpu_run, phantom):
    from xraylib.inference.predict import Predictor
    from xraylib.inference.gradcam import gradcam
    from xraylib.serving.widgets import upload_widget
    pred = Predictor.from_file(gpu_run[0], device='cuda'); img = sorted(Path(phantom).glob('images/*.png'))[0]
    cam = gradcam(pred, img, 'Effusion')
    assert isinstance(cam, np.ndarray) and cam.shape == (64, 64)
    cam2 = gradcam(pred.model, pred.preprocess(img), 2)  # the documented model + tensor call: the input follows the model
    assert isinstance(cam2, np.ndarray)
    w = upload_widget(pred)
    res = w.handle_upload({img.name: dict(metadata=dict(name=img.name), content=img.read_bytes())})
    assert 'error' not in res[0] and len(res[0]['predictions']) == 15
