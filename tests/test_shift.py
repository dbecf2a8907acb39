"""`xraylib shift` and the per-image atypicality flag (issue 44) end to end on a phantom model trained by `train` (which
saves the validation reference): the verdict both ways, a model without a reference, an empty or unreadable folder,
and the JSON fields of the report and of `xraylib predict --json`."""
import json, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pytest
from PIL import Image, ImageFilter
from xraylib.core import set_seed

pytestmark = pytest.mark.slow  # its fixture trains a model with `train` (conftest: what trains is slow)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "A phantom model from `train` (resnet18, 32 px, one epoch) and its validation images copied to a folder."
    from xraylib.datasets.phantom import make_phantom_sample
    from xraylib.training.learner import train
    tmp = tmp_path_factory.mktemp('shift')
    src = make_phantom_sample(tmp/'phantom', n=160, size=64, seed=3)
    set_seed(0)
    train(str(src), arch='resnet18', size=32, bs=16, epochs=1, pretrained=False, out=tmp/'model', quiet=True, n_boot=20, threads=1)
    valid = tmp/'valid'; valid.mkdir()
    import pandas as pd
    for name in pd.read_csv(tmp/'model'/'valid_preds.csv')['Image Index']:
        shutil.copy(next((src).rglob(Path(name).name)), valid/Path(name).name)
    return tmp/'model', valid


def _transformed(valid:Path, out:Path, how)->Path:
    out.mkdir(exist_ok=True)
    for f in valid.iterdir(): how(Image.open(f).convert('L')).save(out/f.name)
    return out


def _run(*args, cwd=None):
    return subprocess.run(['xraylib', *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_train_saves_the_reference(model):
    meta = json.loads((model[0]/'model.json').read_text())
    assert meta['reference']['file'] == 'reference.safetensors' and (model[0]/'reference.safetensors').exists()
    assert meta['reference']['threshold'] > 0 and meta['reference']['false_alarm'] == 0.01
    assert (model[0]/'reference.safetensors').stat().st_size < 2_000_000


def test_same_images_no_shift(model):
    from xraylib.evaluation.shift import shift_check, NO_SHIFT
    s = shift_check(model[0], model[1], n_boot=100)
    assert s['verdict'] == NO_SHIFT, s['tests']
    assert s['tests'].statistic.iloc[-1] < 0.6  # the domain classifier cannot tell validation from itself


def test_transformed_images_shift(model, tmp_path):
    "Inverted and heavily blurred copies of the validation images: shift, and most of them flagged atypical."
    from xraylib.evaluation.shift import shift_check, SHIFT
    from PIL import ImageOps
    for how in (ImageOps.invert, lambda im: im.filter(ImageFilter.GaussianBlur(6))):
        s = shift_check(model[0], _transformed(model[1], tmp_path/f'site{id(how)}', how), n_boot=100)
        assert s['verdict'] == SHIFT, s['tests']
        assert s['tests'].statistic.iloc[-1] > 0.8  # the domain classifier's AUROC
    assert s['atypical']['rate'] > 0.5


def test_cli_report_and_json(model, tmp_path):
    site = _transformed(model[1], tmp_path/'inv', __import__('PIL.ImageOps').ImageOps.invert)
    r = _run('shift', model[0], site, '--out', tmp_path/'rep', '--n_boot', 50, '--alpha', 0.05)
    assert r.returncode == 0, r.stderr
    assert 'shift detected' in r.stdout and (tmp_path/'rep'/'atypical.png').exists()
    j = json.loads((tmp_path/'rep'/'shift.json').read_text())
    assert j['verdict'].startswith('shift detected') and j['n_site'] == len(list(site.iterdir()))
    assert {'test', 'statistic', 'p', 'p_holm'} <= set(j['tests'][0]) and len(j['tests']) == 1 + len(j['prevalence'])
    assert {'site_em', 'site_em_lo', 'site_em_hi', 'valid_prevalence'} <= set(j['prevalence'][0])
    assert {'flagged', 'n', 'rate', 'lo', 'hi'} <= set(j['atypical']) and len(j['most_atypical']) > 0
    assert 'Holm' in (tmp_path/'rep'/'shift.md').read_text()


def test_model_without_reference(model, tmp_path):
    old = tmp_path/'old'; shutil.copytree(model[0], old)
    (old/'reference.safetensors').unlink()
    meta = json.loads((old/'model.json').read_text()); meta.pop('reference'); (old/'model.json').write_text(json.dumps(meta))
    r = _run('shift', old, model[1], '--out', tmp_path/'rep')
    assert r.returncode == 1 and 'no validation reference' in r.stderr and '--reference VALID_IMAGES' in r.stderr
    r = _run('shift', old, model[1], '--reference', model[1], '--out', tmp_path/'rep', '--n_boot', 50)  # adds it
    assert r.returncode == 0, r.stderr
    assert 'no detectable shift' in r.stdout and json.loads((old/'model.json').read_text())['reference']['n_valid'] > 10


def test_empty_or_unreadable_folder(model, tmp_path):
    (tmp_path/'empty').mkdir()
    r = _run('shift', model[0], tmp_path/'empty')
    assert r.returncode == 1 and 'no image files' in r.stderr
    (tmp_path/'bad').mkdir(); (tmp_path/'bad'/'a.png').write_bytes(b'not a png'); (tmp_path/'bad'/'b.png').write_bytes(b'')
    r = _run('shift', model[0], tmp_path/'bad')
    assert r.returncode == 1 and 'could be read' in r.stderr
    r = _run('shift', model[0], tmp_path/'nowhere')
    assert r.returncode == 1 and 'no such folder' in r.stderr


def test_predict_json_and_csv_have_atypicality(model, tmp_path):
    f = sorted(model[1].iterdir())[:2]
    inv = tmp_path/'inv.png'; Image.fromarray(255 - np.array(Image.open(f[0]).convert('L'))).save(inv)
    r = _run('predict', model[0], *f, inv, '--json')
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert {'atypicality', 'atypicality_threshold', 'atypical', 'atypical_note'} <= set(j[0])
    assert j[-1]['atypical'] is True and 'treat this prediction with care' in j[-1]['atypical_note']
    r = _run('predict', model[0], *f, '--csv', tmp_path/'p.csv')
    import pandas as pd
    assert list(pd.read_csv(tmp_path/'p.csv').columns[-2:]) == ['atypicality', 'atypical']
    r = _run('predict', model[0], inv)
    assert 'treat this prediction with care' in r.stdout


def test_flag_rate_holds_on_new_validation_like_images():
    "The flag's threshold, cross-fitted on validation, flags about `false_alarm` of new images from the same population."
    from xraylib.inference.atypical import atypicality, reference_arrays
    rng = np.random.default_rng(0); scale = np.linspace(3, 0.2, 48)
    F = rng.normal(size=(2000, 48)) * scale; new = rng.normal(size=(20000, 48)) * scale
    arr, info = reference_arrays(F, rng.random((2000, 1)), k=8)
    rate = atypicality(dict(arr, resid_var=arr['resid_var'][0], threshold=info['threshold']), new)['atypical'].mean()
    assert 0.004 < rate < 0.025, rate  # 1% stated; a threshold at the median would flag 50%


def test_domain_classifier_quiet_on_new_images_of_the_validation_population():
    """The audit's null case: a reference from some validation patients, the site the others (new images, none in the
    reference). A projection fitted on the reference made this a shift in 20 of 20 splits, and a p-value that counted
    a patient's images as independent in 5-6 of 20; now about 5% at most."""
    from xraylib.inference.atypical import reference_arrays
    from xraylib.evaluation.shift import domain_auroc, domain_features
    rng = np.random.default_rng(1); alarms = 0
    pats = np.repeat(np.arange(300), 3)  # three images a patient, alike through a patient factor
    F = np.abs((rng.normal(size=(900, 64)) + 3.0 * rng.normal(size=(300, 64))[pats]) * np.linspace(2, 0.1, 64)
               + rng.normal(size=64))  # ReLU-like, correlated
    for i in range(20):
        half = np.isin(pats, rng.permutation(300)[:150])
        arr, _ = reference_arrays(F[half], rng.random((half.sum(), 1)), groups=pats[half], k=16, seed=i)
        ref = dict(arr, resid_var=arr['resid_var'][0])
        d = domain_auroc(domain_features(ref, F[~half]), ref['proj_feats'].astype(np.float32),
                         [f'p{o}' for o in pats[~half]], ref['group_hash'], n_boot=20, seed=i)
        alarms += d['p'] < 0.05
    assert alarms <= 3, alarms  # the image-wise p-value: 5 of 20 here


def test_service_and_app_answers_carry_atypicality(model):
    "The JSON API's and the page's answers carry each image's atypicality, equal to `predict_batch`'s."
    from xraylib.inference.predict import Predictor
    from xraylib.serving.api import Service
    f = sorted(model[1].iterdir())[:3]; p = Predictor.from_file(model[0])
    want = p.predict_batch(f, quiet=True).attrs['atypicality'].score
    svc = Service(p)
    try: got = svc.predict_files([(o.name, o.read_bytes()) for o in f])
    finally: svc.close()
    assert [set(g) >= {'atypicality', 'atypicality_threshold', 'atypical', 'atypical_note'} for g in got] == [True] * 3
    np.testing.assert_allclose([g['atypicality'] for g in got], want, atol=2e-3)


def test_shift_refuses_what_it_cannot_answer(model, tmp_path):
    "Too few images (no verdict, said), a misspelled class folder, a reference replaced silently, a bad --alpha."
    few = tmp_path/'few'; few.mkdir()
    for o in sorted(model[1].iterdir())[:3]: shutil.copy(o, few/o.name)
    r = _run('shift', model[0], few, '--out', tmp_path/'r1', '--n-boot', 20)
    assert r.returncode == 0 and 'too few site images for a verdict' in r.stdout, (r.stdout, r.stderr)
    lab = tmp_path/'lab'
    for k, o in enumerate(sorted(model[1].iterdir())[:12]):  # class folders spelled unlike any of the model's labels
        (lab/('Masss', 'Effusionn')[k % 2]).mkdir(parents=True, exist_ok=True); shutil.copy(o, lab/('Masss', 'Effusionn')[k % 2]/o.name)
    r = _run('shift', model[0], lab, '--labels', lab, '--out', tmp_path/'r2', '--n-boot', 20)
    assert r.returncode == 1 and "none of the model's labels" in r.stderr, r.stderr
    r = _run('shift', model[0], few, '--reference', model[1], '--out', tmp_path/'r3')
    assert r.returncode == 1 and '--replace-reference' in r.stderr, r.stderr
    for opt, v in (('--alpha', 1.5), ('--alpha', 5), ('--n-boot', 0)):  # impossible values: bad input, as every command's
        r = _run('shift', model[0], few, opt, v, '--out', tmp_path/'r4')
        assert r.returncode == 1 and f'xraylib shift: {opt} {v}' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'r4').exists()
