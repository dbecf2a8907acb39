"""`xraylib train` on datasets other than NIH's default, as a user runs it (the console script in a subprocess): the Kermany
pediatric folder set (real, from ../shared), a CheXpert-layout phantom under each uncertain-label policy, an NIH binary study
with --labels, any CSV. Every output file of an NIH run, for the dataset's own vocabulary."""
import re, json, os, subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest

pytestmark = pytest.mark.slow  # every test trains a model

NIH_RUN_FILES = {'auroc.csv', 'calibration.csv', 'calibration.png', 'confusion.csv', 'confusion.png', 'history.csv', 'metrics.json',
                 'model.json', 'model.safetensors', 'pr.png', 'prevalence.png', 'rates.png', 'report.md', 'roc.png', 'sweep.csv',
                 'sweep.png', 'thresholds.csv', 'valid_preds.csv'}


def train(tmp_path, *args, timeout=900):
    env = {**os.environ, 'XRAYLIB_HOME': str(tmp_path/'home')}
    r = subprocess.run(['xraylib', 'train', '--epochs', '1', '--size', '32', '--no-pretrained', '--n-boot', '50', '--quiet', *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def outputs(out:Path)->tuple:
    return json.loads((out/'model.json').read_text()), json.loads((out/'metrics.json').read_text()), pd.read_csv(out/'auroc.csv')


@pytest.mark.timeout(900)
def test_train_kermany_folders_one_finding_test_folder_held_out(shared, tmp_path):
    "The Kermany layout: PNEUMONIA is the one finding (NORMAL implied), patient-wise inside train/, test/ evaluated at the end."
    root = shared('kermany-pneumonia-224', 'chest_xray')
    out = tmp_path/'k'
    train(tmp_path, '--data', str(root), '--out', str(out))
    meta, met, au = outputs(out)
    assert meta['vocab'] == ['PNEUMONIA'] and meta['no_finding'] == 'NORMAL' and meta['n_out'] == 1
    d = meta['data']
    assert d['split'] == 'official' and d['held_out'] == 'the test/ folder' and d['patients_shared'] == 0
    assert d['n_train'] + d['n_valid'] == 1341 + 3875 and d['n_test_held_out'] == 234 + 390
    assert NIH_RUN_FILES <= {f.name for f in out.iterdir()}
    assert au['label'].tolist() == ['PNEUMONIA', 'mean'] and 0 <= au['auroc_lo'][0] <= au['auroc'][0] <= au['auroc_hi'][0] <= 1
    assert list(meta['thresholds']) == ['PNEUMONIA'] and set(meta['calibration']['a']) == {'PNEUMONIA'}
    vp, tp = pd.read_csv(out/'valid_preds.csv'), pd.read_csv(out/'test'/'test_preds.csv')
    assert vp['Image Index'].str.startswith('train/').all() and len(tp) == 624 and tp['Image Index'].str.startswith('test/').all()
    assert set(vp['Patient ID']).isdisjoint(set(tp['Patient ID']))  # train's and test's numbering are separate namespaces
    assert {'auroc.csv', 'thresholds.csv', 'confusion.csv', 'calibration.csv', 'report.md'} <= {f.name for f in (out/'test').iterdir()}
    assert met['test']['n_images'] == 624 and met['test']['mean_auroc'] == pytest.approx(pd.read_csv(out/'test'/'auroc.csv')['auroc'][0])
    rep = (out/'report.md').read_text()
    assert 'the test/ folder held out' in rep and 'PNEUMONIA' in rep
    # test/ is graded at the model's own validation threshold, never at one re-chosen on test/ (issue 31)
    t, th, cf = meta['thresholds']['PNEUMONIA'], pd.read_csv(out/'test'/'thresholds.csv'), pd.read_csv(out/'test'/'confusion.csv')
    assert th.threshold.tolist() == [t] and cf.threshold.tolist() == [t] and set(th.chosen_on) == set(cf.chosen_on) == {'validation (model.json)'}
    y, called = tp['PNEUMONIA'] == 1, tp['prob_PNEUMONIA'] > t  # a hand count from test_preds.csv
    sens, spec = (called & y).sum() / y.sum(), (~called & ~y).sum() / (~y).sum()
    assert cf.recall[0] == pytest.approx(sens) and cf.specificity[0] == pytest.approx(spec)
    trep = (out/'test'/'report.md').read_text()
    assert f'| PNEUMONIA | {t:.3f} |' in trep and 'chosen on validation (model.json)' in trep
    assert re.search(rf'{sens:.3f} \(\d\.\d+-\d\.\d+\) \| {spec:.3f} \(\d\.\d+-\d\.\d+\)', trep), trep  # exact CIs beside them
    assert '## Thresholds chosen on these data: optimistic' in trep and json.loads((out/'test'/'metrics.json').read_text())['thresholds'] == {'PNEUMONIA': t}


@pytest.fixture(scope='module')
def chexpert(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_chexpert
    return make_phantom_chexpert(tmp_path_factory.mktemp('chexpert'), n=240, size=48, seed=2)


@pytest.mark.parametrize('policy', ['ignore', 'ones', 'zeros'])
def test_train_chexpert_layout_each_uncertain_policy(chexpert, tmp_path, policy):
    "A CheXpert-layout phantom trains under each --uncertain policy; under 'ignore' the uncertain cells are unknown, counted, skipped."
    from xraylib.data.block import read_dataset
    out = tmp_path/policy
    train(tmp_path, '--data', str(chexpert), '--uncertain', policy, '--out', str(out))
    meta, met, au = outputs(out)
    truth = read_dataset(chexpert, uncertain=policy)
    assert meta['vocab'] == list(truth.attrs['vocab'].labels) and meta['no_finding'] == 'No Finding'
    assert meta['training']['read']['uncertain'] == policy and meta['training']['read']['format'] == 'auto'
    vp = pd.read_csv(out/'valid_preds.csv')
    labels = meta['vocab']
    unknown = int(vp[labels].isna().to_numpy().sum())
    assert (unknown > 0) == (policy == 'ignore')
    rows = au[au['label'] != 'mean'].set_index('label')
    assert (rows['n_unknown'].sum() == unknown) and (rows['n_pos'] + rows['n_neg'] + rows['n_unknown'] == len(vp)).all()
    v = truth.set_index('image').loc[vp['Image Index'], labels]
    assert np.array_equal(v.to_numpy(), vp[labels].to_numpy(), equal_nan=True)  # the targets written are the reader's


@pytest.mark.timeout(600)
def test_train_nih_binary_study_with_labels(shared, tmp_path):
    "`--labels Effusion,'No Finding'` on real NIH images: a one-finding Effusion model on the images with either label."
    data = shared('nih-real-1000-64px')
    out = tmp_path/'eff'
    train(tmp_path, '--data', str(data), '--labels', 'Effusion,No Finding', '--out', str(out))
    meta, met, au = outputs(out)
    assert meta['vocab'] == ['Effusion'] and meta['no_finding'] == 'No Finding'
    lab = pd.read_csv(data/'labels.csv')['Finding Labels'].str.split('|')
    keep = lab.map(lambda ls: 'Effusion' in ls or ls == ['No Finding'])
    assert meta['data']['n_train'] + meta['data']['n_valid'] == keep.sum() and meta['data']['patients_shared'] == 0
    assert au['label'].tolist() == ['Effusion', 'mean'] and met['auroc_no_finding'] is None
    assert 'Effusion' in (out/'report.md').read_text()


def test_train_chexpert_all_views_blank_unknown(chexpert, tmp_path):
    "`--views all --blank unknown`: the laterals are trained on too, and blank cells are unknown like the uncertain ones."
    from xraylib.data.block import read_dataset
    out = tmp_path/'all'
    train(tmp_path, '--data', str(chexpert), '--views', 'all', '--blank', 'unknown', '--format', 'chexpert', '--out', str(out))
    meta, met, au = outputs(out)
    truth = read_dataset(chexpert, views='all', blank='unknown')
    assert meta['data']['n_train'] + meta['data']['n_valid'] == len(truth) > len(read_dataset(chexpert))
    rows = au[au['label'] != 'mean']
    assert rows['n_unknown'].sum() == int(pd.read_csv(out/'valid_preds.csv')[meta['vocab']].isna().to_numpy().sum()) > 0


@pytest.fixture(scope='module')
def nih_phantom(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('ph'), n=120, size=48, seed=4, num_workers=0)


@pytest.mark.parametrize('how', ['label-col', 'label-cols'])
def test_train_any_csv(nih_phantom, tmp_path, how):
    "Any CSV: an image column, labels in one delimited column (or one 0/1 column per label), a patient column; the vocabulary is what it holds."
    src = pd.read_csv(nih_phantom/'sample_labels.csv')
    d = pd.DataFrame({'file': 'images/' + src['Image Index'], 'subject': src['Patient ID'],
                      'findings': src['Finding Labels'].str.replace('|', ';')})
    if how == 'label-cols':
        for l in ['Effusion', 'Mass']: d[l] = src['Finding Labels'].str.split('|').map(lambda ls: int(l in ls))
        opts = ['--label-cols', 'Effusion,Mass']
    else: opts = ['--label-col', 'findings', '--delim', ';']
    d.to_csv(nih_phantom/f'{how}.csv', index=False)
    out = tmp_path/how
    train(tmp_path, '--data', str(nih_phantom/f'{how}.csv'), '--format', 'csv', '--image-col', 'file', '--patient-col', 'subject',
          *opts, '--out', str(out))
    meta, met, au = outputs(out)
    want = ['Effusion', 'Mass'] if how == 'label-cols' else None
    if want: assert meta['vocab'] == want and meta['no_finding'] is None
    else: assert set(meta['vocab']) <= set(src['Finding Labels'].str.split('|').explode()) and meta['no_finding'] == 'No Finding'
    assert meta['data']['patients_shared'] == 0 and meta['data']['patient_ids']
