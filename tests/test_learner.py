"What the notebooks do not check of xraylib.training.learner: every file of a run, weights files and the hub cache, pos_weight, per-label metrics, 2-process training.\n(Reload, pickle and tamper refusals are checked in 40_inference.modelfile and tests/test_faults.py; offline pretrained=auto/yes in 66_training.learner.)"
import json, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from xraylib.core import LABELS
from xraylib.training.learner import *
from xraylib.training.pretrained import hub_weights_path, PretrainedWeightsWarning, PretrainedWeightsError
from xraylib.training.learner import train_targets, pos_weights
from xraylib.inference.modelfile import load_model, model_probs, save_model

pytestmark = pytest.mark.filterwarnings('ignore::FutureWarning')
THREADS0 = torch.get_num_threads()  # torch's own count, which `train` restores


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('ph'), n=60, size=64, seed=1, num_workers=0)


@pytest.fixture(scope='module')
def dls(phantom):
    from xraylib.data.block import xray_dataloaders
    return xray_dataloaders(phantom, size=32, bs=16, num_workers=0, device='cpu')


@pytest.fixture
def hub(tmp_path, monkeypatch):
    "An empty torch hub cache in a temp dir."
    old = torch.hub.get_dir(); torch.hub.set_dir(str(tmp_path/'hub'))
    yield tmp_path/'hub'
    torch.hub.set_dir(old)


@pytest.fixture(scope='module')
def run(phantom, tmp_path_factory):
    "One tiny training run through `train`, on a CPU made to look like one without bfloat16 (no flags, a slow measured probe)."
    import xraylib.training.cpu
    out = tmp_path_factory.mktemp('run')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(xraylib.training.cpu, 'bf16_flags', lambda cpuinfo=None: []); mp.setattr(xraylib.training.cpu, 'bf16_speedup', lambda: 0.5)
        res = train(str(phantom), arch='resnet18', size=32, bs=16, epochs=1, pretrained=False, out=out, quiet=True, n_boot=20, threads=1)
    return out, res


@pytest.mark.slow
def test_cpu_without_bf16_keeps_float32(run):
    "Where the probe measures bfloat16 slower than float32, `train` keeps float32 and says why in model.json; torch's threads are restored."
    t = json.loads((run[0]/'model.json').read_text())['training']
    assert t['bf16'] is False and 'measured probe' in t['bf16_why'] and '0.50x' in t['bf16_why'], t['bf16_why']
    assert t['torch_threads'] == 1 and torch.get_num_threads() == THREADS0


@pytest.mark.slow
def test_train_writes_outputs(run):
    out, res = run
    for f in ['model.safetensors', 'model.json', 'valid_preds.csv', 'metrics.json', 'history.csv']:
        assert (out/f).is_file(), f
    assert not list(out.glob('.*tmp*')) and not (out/'.history.csv.partial').exists()
    vp = pd.read_csv(out/'valid_preds.csv')
    assert list(vp.columns[:2]) == ['Image Index', 'Patient ID']
    assert [f'prob_{l}' for l in LABELS] == list(vp.columns[2:17]) and LABELS == list(vp.columns[17:32])
    assert len(vp) == res['n_valid'] and vp.iloc[:, 2:17].apply(lambda c: c.between(0, 1).all()).all()
    met = json.loads((out/'metrics.json').read_text())
    assert 'mean_auroc' in met and 'accuracy_multi' in met and met['pretrained'] is False
    meta = json.loads((out/'model.json').read_text())
    assert meta['arch'] == 'resnet18' and meta['n_in'] == 1 and meta['vocab'] == LABELS and meta['size'] == [32, 32]
    assert meta['pretrained'] is False and meta['seed'] == 42 and set(meta['thresholds']) == set(LABELS)
    assert meta['normalize']['mean'] and meta['versions']['xraylib'] and meta['data']['n_valid'] == res['n_valid']
    assert len(pd.read_csv(out/'history.csv')) == 1


@pytest.mark.slow
def test_run_outputs_reload(run):
    "The probabilities in valid_preds.csv are those of the saved model files."
    out, _ = run
    model, meta = load_model(out)
    from xraylib.data.block import xray_dataloaders
    vp = pd.read_csv(out/'valid_preds.csv')
    dls = xray_dataloaders(meta['training']['source'], size=32, bs=16, num_workers=0, device='cpu', seed=42)
    p = model_probs(model, dls.valid.new(shuffle=False, drop_last=False)).numpy()
    from xraylib.inference.recalibration import apply_calibration  # the saved probabilities are recalibrated, as the Predictor gives them
    np.testing.assert_allclose(apply_calibration(p, meta['calibration'], LABELS), vp[[f'prob_{l}' for l in LABELS]].values, atol=1e-5)


def test_pretrained_no(dls, hub):
    with warnings.catch_warnings():
        warnings.simplefilter('error', PretrainedWeightsWarning)
        learn = xray_learner(dls, 'resnet18', pretrained=False)
    assert learn.pretrained is False


def _fake_imagenet(seed=0):
    import torchvision
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).state_dict()


def test_weights_file_is_loaded(dls, hub, tmp_path):
    sd = _fake_imagenet(); torch.save(sd, tmp_path/'r18.pth')
    with warnings.catch_warnings():
        warnings.simplefilter('error', PretrainedWeightsWarning)
        learn = xray_learner(dls, 'resnet18', pretrained=True, weights=tmp_path/'r18.pth')
    assert learn.pretrained is True
    body = learn.model[0]
    assert torch.allclose(body[0].weight, sd['conv1.weight'].sum(1, keepdim=True))  # fastai's n_in=1 rule
    assert torch.equal(body[4][0].conv1.weight, sd['layer1.0.conv1.weight'])
    assert not body[4][0].conv1.weight.requires_grad  # frozen body, as vision_learner(pretrained=True)
    save_model(learn, tmp_path/'m')
    assert json.loads((tmp_path/'m'/'model.json').read_text())['pretrained'] is True


def test_hub_cache_is_used(dls, hub):
    sd = _fake_imagenet(1); f = hub_weights_path('resnet18'); f.parent.mkdir(parents=True)
    torch.save(sd, f)
    learn = xray_learner(dls, 'resnet18', pretrained=None, download=False)
    assert learn.pretrained and torch.equal(learn.model[0][4][0].conv1.weight, sd['layer1.0.conv1.weight'])


def test_wrong_weights_file(dls, hub, tmp_path):
    import torchvision
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path/'r34.pth')
    with pytest.raises(PretrainedWeightsError, match='does not hold resnet18 weights'):
        xray_learner(dls, 'resnet18', weights=tmp_path/'r34.pth')
    with pytest.raises(FileNotFoundError): xray_learner(dls, 'resnet18', weights=tmp_path/'nope.pth')


def test_pos_weight_from_training_labels_capped(dls):
    t = train_targets(dls)
    assert t.shape == (len(dls.train_ds), 15)
    pw = pos_weights(t, cap=20.)
    pos = t.sum(0); exp = torch.where(pos > 0, (len(t) - pos) / pos.clamp(min=1), torch.tensor(20.)).clamp(max=20.)
    assert torch.allclose(pw, exp) and pw.max() <= 20.
    learn = xray_learner(dls, 'resnet18', pretrained=False, pos_weight_cap=5.)
    assert learn.loss_func.func.pos_weight.max() <= 5.
    assert xray_learner(dls, 'resnet18', pretrained=False, pos_weight=False).loss_func.func.pos_weight is None


def test_auroc_metric_in_learner(dls):
    learn = xray_learner(dls, 'resnet18', pretrained=False, per_label_auroc=True)
    with learn.no_bar(), learn.no_logging(): res = learn.validate()
    names = learn.recorder.metric_names
    assert 'mean_auroc' in names and 'auroc_Hernia' in names
    vals = dict(zip(names[3:], res[1:]))  # names: epoch, train_loss, valid_loss, metrics..., time
    y = torch.cat([b[1] for b in dls.valid]).numpy()
    for i, l in enumerate(LABELS):
        v = vals[f'auroc_{l}']
        assert np.isnan(v) if y[:, i].sum() in (0, len(y)) else 0 <= v <= 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_distributed_auroc_sees_every_shard(tmp_path):
    "Two gloo processes (`tests/scripts/train_distributed.py`): the logged mean AUROC is the whole validation set's."
    import re, subprocess, sys, shutil
    pytest.importorskip('accelerate', reason='needs accelerate (a dev requirement)')
    script = Path(__file__).parent/'scripts'/'train_distributed.py'
    cmd = [shutil.which('accelerate') or 'accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', str(script), '--data', 'phantom', '--n_images', '160',
           '--size', '64', '--bs', '8', '--epochs', '1', '--cpu_patch', '--out', str(tmp_path/'m')]
    env = {**__import__('os').environ, 'XRAYLIB_HOME': str(tmp_path/'home'), 'CUDA_VISIBLE_DEVICES': ''}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert '2 process(es) on cpu' in r.stdout, r.stdout[-2000:]
    m = re.search(r'logged during the 2-process epoch ([\d.na]+); recomputed .*\((\d+) images\) by one process ([\d.na]+)', r.stdout)
    assert m, r.stdout[-2000:]
    assert int(m[2]) == 32 and abs(float(m[1]) - float(m[3])) < 1e-6, m[0]
    from xraylib.inference.predict import Predictor
    assert Predictor.from_file(tmp_path/'m').vocab == LABELS


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_cross_validation_on_real_images(shared, tmp_path):
    "`xraylib train --folds 2` on 1,000 real NIH images of 264 patients; `xraylib evaluate` reads its oof_preds.csv (2 folds: half the training of 3, the same checks)."
    import subprocess
    data = shared('nih-real-1000-64px')
    r = subprocess.run(['xraylib', 'train', '--data', str(data), '--folds', '2', '--epochs', '1', '--size', '32', '--bs', '64',
                        '--no-pretrained', '--n-boot', '20', '--out', str(tmp_path/'cv'), '--quiet'], capture_output=True, text=True, timeout=1400)
    assert r.returncode == 0, r.stderr[-3000:]
    oof = pd.read_csv(tmp_path/'cv'/'oof_preds.csv')
    assert len(oof) == 1000 and oof['Image Index'].is_unique and oof.groupby('Patient ID')['fold'].nunique().max() == 1
    cvm = pd.read_csv(tmp_path/'cv'/'cv_metrics.csv')
    assert cvm['fold'].tolist() == [0, 1] and cvm['mean_auroc'].between(0, 1).all()
    r = subprocess.run(['xraylib', 'evaluate', '--preds', str(tmp_path/'cv'/'oof_preds.csv'), '--labels', str(data/'labels.csv'),
                        '--out', str(tmp_path/'ev'), '--n-boot', '20'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and (tmp_path/'ev'/'auroc.csv').exists(), r.stderr[-2000:]


@pytest.mark.slow
def test_official_split_holds_out_the_test_list(tmp_path):
    "`xraylib train --split official`: train/valid from train_val_list.txt only; test_preds.csv for exactly test_list.txt."
    import subprocess
    from xraylib.datasets.phantom import make_phantom_sample
    src = make_phantom_sample(tmp_path/'ph', n=120, size=48, seed=3, num_workers=0)
    df = pd.read_csv(src/'sample_labels.csv'); pats = sorted(df['Patient ID'].unique())
    test_p = set(pats[::4])  # a quarter of the patients: NIH's test list is patient-wise too
    test = set(df[df['Patient ID'].isin(test_p)]['Image Index'])
    (src/'test_list.txt').write_text('\n'.join(sorted(test)) + '\n')
    (src/'train_val_list.txt').write_text('\n'.join(sorted(set(df['Image Index']) - test)) + '\n')
    r = subprocess.run(['xraylib', 'train', '--data', str(src), '--split', 'official', '--arch', 'resnet18', '--size', '32',
                        '--bs', '16', '--epochs', '1', '--no-pretrained', '--n-boot', '20', '--out', str(tmp_path/'run'), '--quiet'],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/'run'
    tp, vp = pd.read_csv(run/'test'/'test_preds.csv'), pd.read_csv(run/'valid_preds.csv')
    assert set(tp['Image Index']) == test and len(tp) == len(test)
    assert not set(vp['Image Index']) & test
    meta = json.loads((run/'model.json').read_text())
    assert meta['training']['split'] == 'official' and meta['data']['n_train'] + meta['data']['n_valid'] == len(df) - len(test)
    m = json.loads((run/'metrics.json').read_text())
    assert m['test']['n_images'] == len(test) and (run/'test'/'auroc.csv').exists() and 'official split' in (run/'report.md').read_text()
