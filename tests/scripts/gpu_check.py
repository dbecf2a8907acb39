"""The GPU check for a lent GPU (or Colab): `python tests/scripts/gpu_check.py` prints what BENCHMARKS.md records.
1. the default `xraylib train` on the phantom (GPU preset: resnet34, 224 px, fp16) and its time;
2. one epoch's images/s on the phantom sample with the GPU preset, channels-last + fp16;
3. the GPU tests (tests/test_gpu.py): resume GPU->GPU, Predictor on cuda vs CPU, Grad-CAM and the widget on cuda."""
import subprocess, sys, time, json, tempfile
from pathlib import Path
import torch

def main():
    if not torch.cuda.is_available(): print('no CUDA GPU here: nothing to check'); return 0
    print(f'GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}')
    from xraylib.training.learner import train
    from xraylib.datasets.phantom import make_phantom_sample
    d = Path(tempfile.mkdtemp())
    t0 = time.time(); res = train(out=d/'default', quiet=True)  # `xraylib train` with no options
    print(f"default xraylib train: {time.time() - t0:.0f} s, mean AUROC {res['mean_auroc']:.3f}, "
          f"{res['n_train']} train images, fit {res['fit_seconds']} s")
    src = make_phantom_sample(d/'ph', n=2000, size=256, seed=0)
    t0 = time.time(); r = train(str(src), epochs=1, freeze_epochs=0, pretrained=False, channels_last=True, fp16=True, out=d/'epoch', quiet=True, n_boot=10)
    print(f"one epoch, GPU preset, channels-last + fp16: {r['n_train'] / r['fit_seconds']:.0f} train images/s ({r['fit_seconds']} s incl. validation)")
    return subprocess.call([sys.executable, '-m', 'pytest', '-q', str(Path(__file__).parents[1]/'test_gpu.py')])

if __name__ == '__main__': sys.exit(main())
