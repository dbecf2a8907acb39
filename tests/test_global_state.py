"""Importing every xraylib module and one small `train` leave the process as they found it: fastai's progress bars, defaults
and classes, pickle's dispatch table, `tempfile.tempdir`, `os.environ`, torch's thread counts and backend flags (in a
fresh interpreter)."""
import json, os, subprocess, sys, textwrap
import pytest

pytestmark = pytest.mark.slow  # trains a model

SCRIPT = textwrap.dedent('''
    import os, sys, json, copyreg, tempfile, pkgutil, importlib, warnings
    import torch, fastai.vision.all as fv, fastai.callback.progress as fcp
    from fastai.torch_core import defaults
    CLASSES = (fv.Learner, fv.DataLoaders, fv.DataLoader, fv.TfmdDL, fv.Callback, fv.Recorder, fcp.ProgressCallback, fv.TensorBase)

    def state():
        "Everything a library might change for the whole process, as comparable text."
        return dict(pickling=sorted(repr(k) for k, f in copyreg.dispatch_table.items()  # how pickle saves a type: xraylib's
                                    if getattr(f, '__module__', '').startswith('xraylib') or 'plum' in repr(k)),  # (libraries'
                    # lazy imports during train, torch's and scipy's, register their own types: not xraylib's doing)
                    tempdir=tempfile.gettempdir(),  # the effective folder (the stdlib caches it on first use)
                    env=dict(os.environ), threads=torch.get_num_threads(),
                    interop=torch.get_num_interop_threads(), bars=repr((fcp.master_bar, fcp.progress_bar)),
                    defaults={k: repr(v) for k, v in vars(defaults).items()},
                    torch=repr((torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, torch.get_default_dtype(),
                                torch.is_grad_enabled(), torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled())),
                    classes={c.__name__: sorted(f'{k}={id(v)}' for k, v in vars(c).items()) for c in CLASSES})

    def changed(a, b): return {k: (a[k], b[k]) if k != 'env' else {e: (a[k].get(e), b[k].get(e)) for e in set(a[k]) | set(b[k]) if a[k].get(e) != b[k].get(e)}
                               for k in a if a[k] != b[k]}
    out, before = {}, state()
    import xraylib
    for m in sorted(m.name for m in pkgutil.walk_packages(xraylib.__path__, 'xraylib.')): importlib.import_module(m)
    out['import'] = changed(before, state())
    from xraylib.training.learner import train
    before = state()
    train(n=48, size=32, bs=16, epochs=1, pretrained=False, n_boot=20, out=sys.argv[1], num_workers=0)  # with progress output
    out['train'] = changed(before, state())
    print('STATE=' + json.dumps(out, default=str))
''')


def test_imports_and_train_leave_global_state_alone(tmp_path):
    env = {**os.environ, 'XRAYLIB_HOME': str(tmp_path/'home')}
    r = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp_path/'run')], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads(r.stdout.split('STATE=')[-1])
    assert res['import'] == {}, f'importing xraylib changed: {res["import"]}'
    assert res['train'] == {}, f'train changed: {res["train"]}'
