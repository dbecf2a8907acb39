"""Where thresholds come from, end to end (issue 40): `xraylib evaluate|calibrate|predict` in a subprocess on small synthetic
CSVs and a hand-made model (untrained ResNet-18 weights, a model.json written here): chains of evaluations, site-calibrated
models, the rule named, thresholds paired through the synonym table, a null threshold undefined, one `p > t` rule, several
training sources, patient ids from NIH names."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest

LABELS = ['Effusion', 'Pneumonia', 'No Finding']


def xraylib(*args, ok=True):
    "Run `xraylib ARGS` (the checkout PYTHONPATH names) and return the CompletedProcess; fail with its stderr unless `ok` is False."
    r = subprocess.run([sys.executable, '-c', 'import sys; from xraylib.cli import main; sys.exit(main())', *map(str, args)],
                       capture_output=True, text=True, timeout=600)  # PYTHONPATH inherited: the checkout under test
    if ok: assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "300 NIH-named images of 120 patients (no Patient ID column): predictions and one-column-per-label targets."
    d, rng = tmp_path_factory.mktemp('prov'), np.random.default_rng(0)
    pid = np.sort(rng.integers(1, 121, 300)); names = [f'{p:08d}_{i:03d}.png' for i, p in enumerate(pid)]
    y = np.zeros((300, 3), int); y[:, 0] = rng.random(300) < .3; y[:, 1] = rng.random(300) < .2; y[:, 2] = (y[:, :2] == 0).all(1)
    p = np.clip(.25 * y + rng.random((300, 3)) * .6, 0, 1)
    pd.DataFrame({'Image Index': names, **{f'prob_{l}': p[:, k] for k, l in enumerate(LABELS)}}).to_csv(d/'p.csv', index=False)
    pd.DataFrame({'Image Index': names, **{l: y[:, k] for k, l in enumerate(LABELS)}}).to_csv(d/'l.csv', index=False)
    return d


@pytest.fixture(scope='module')
def model(site):
    "A loadable model folder: untrained ResNet-18 weights and a model.json with F1 thresholds, Effusion's undefined (null)."
    from fastai.vision.all import create_vision_model, resnet18
    from safetensors.torch import save_file
    from xraylib.inference.modelfile import MODEL_FORMAT
    m = site/'model'; m.mkdir()
    net = create_vision_model(resnet18, len(LABELS), n_in=1, pretrained=False)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(m/'model.safetensors'), metadata={'format': MODEL_FORMAT})
    meta = dict(format=MODEL_FORMAT, arch='resnet18', n_in=1, n_out=3, vocab=LABELS, size=[32, 32], resize=dict(method='squish'),
                normalize=dict(mean=[.5], std=[.25]), thresholds={'Effusion': None, 'Pneumonia': .4, 'No Finding': .45},
                threshold_method='f1', weights_file='model.safetensors', training=dict(data=[str(site), 'phantom']))
    (m/'model.json').write_text(json.dumps(meta))
    return m


def metrics(d): return json.loads((Path(d)/'metrics.json').read_text())


def test_chain_of_evaluations_says_same_images(site):
    "Item 1: B at A's thresholds, A chosen on these very images: B says so, counts them and calls the figures optimistic."
    a, b = site/'a', site/'b'
    xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--out', a, '--n-boot', 20)
    assert metrics(a)['thresholds_chosen_on'] == 'these data' and len(metrics(a)['thresholds_images']) == 300
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', a, '--out', b, '--n-boot', 20)
    m, on = metrics(b), f'the images scored in {a/"metrics.json"}'
    assert m['thresholds_chosen_on'] == on and m['thresholds_overlap'] == dict(n_overlap=300, n_scored=300)
    assert f'chosen on {on}; 300 of the 300 images scored: optimistic' in r.stdout
    rep = (b/'report.md').read_text()
    assert '300 of the 300 images scored here (all of them) are among the images they were chosen on' in rep and 'not on the images' not in rep
    assert set(pd.read_csv(b/'thresholds.csv').chosen_on) == {on} and set(pd.read_csv(b/'confusion.csv').chosen_on) == {on}
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', a/'thresholds.csv', '--out', site/'b2', '--n-boot', 20)
    assert metrics(site/'b2')['thresholds_overlap']['n_overlap'] == 300  # thresholds.csv: the images from the metrics.json beside it


def test_chain_through_a_model(site, model):
    "Item 1: A graded at a model's thresholds; B at A's says validation (model.json), via A, not 'the data of A'."
    a, b = site/'ma', site/'mb'
    xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', model, '--out', a, '--n-boot', 20)
    assert metrics(a)['thresholds_chosen_on'] == 'validation (model.json)' and metrics(a)['thresholds_overlap'] is None
    xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', a, '--out', b, '--n-boot', 20)
    assert metrics(b)['thresholds_chosen_on'] == f'validation (model.json), via {a/"metrics.json"}'
    assert 'not recorded' in (b/'report.md').read_text()  # the validation images are not recorded: no overlap claimed


def test_site_calibrated_model_and_calibrate_without_patient_ids(site, model):
    "Items 2, 6, 10, 11: calibrate on NIH names (no Patient ID); the site model's thresholds are the site's K images, on the written scale."
    r = xraylib('calibrate', '--model', model, '--preds', site/'p.csv', '--labels', site/'l.csv', '--n', 30, '--n-boot', 20,
                '--site', 'mysite', '--out', site/'site', '--curve', '10,20', '--draws', 4)
    sc = json.loads((site/'site'/'model.json').read_text())['site_calibration']
    pids = {int(i[:8]) for i in sc['images']}
    assert sc['n_patients'] == len(pids) and sc['k'] == len(sc['images'])  # whole patients, counted
    t = pd.read_csv(site/'site'/'site_calibration.csv')
    written = json.loads((site/'site'/'model.json').read_text())['thresholds']
    for row in t[t.thresholds == 'adapted'].itertuples():
        if written[row.label] is not None: assert row.threshold_written_model == pytest.approx(written[row.label])
    assert 'in the written model' in r.stdout
    cs = pd.read_csv(site/'site'/'site_curve.csv')
    assert {'images_min', 'images_max', 'patients_min', 'patients_max'} <= set(cs.columns) and (cs.images_max >= cs.k).all()
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', site/'site', '--out', site/'se', '--n-boot', 20)
    m = metrics(site/'se')
    assert m['thresholds_chosen_on'].startswith(f"{sc['k']} labelled images of mysite (site calibration")
    assert m['thresholds_overlap'] == dict(n_overlap=sc['k'], n_scored=300) and 'optimistic' in r.stdout


def test_site_strata_ignore_no_finding():
    "Item 10: the 'nothing found' label is no positive: a Kermany-like site (NORMAL / PNEUMONIA) draws both strata."
    from xraylib.evaluation.thresholds import EvalData
    from xraylib.evaluation.sitecal import site_calibration
    rng = np.random.default_rng(1); y = (rng.random(400) < .3).astype(float)
    ed = EvalData(np.c_[rng.random(400), rng.random(400)], np.c_[y, 1 - y], ['PNEUMONIA', 'NORMAL'], patient_ids=np.arange(400))
    for seed in range(5):
        sc = site_calibration(ed, {'PNEUMONIA': .5, 'NORMAL': .5}, 20, seed, n_boot=0)
        assert sc['k'] == 20 and y[sc['picked']].sum() == 6  # round(20 * 0.3) findings, the rest without: stratified


def test_model_rule_named(site, model):
    "Item 3: --threshold_method youden with a model's F1 thresholds: the F1 thresholds are named F1, youden only for the optimistic ones."
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', model, '--out', site/'y', '--n-boot', 20,
                '--threshold-method', 'youden')
    m, rep = metrics(site/'y'), (site/'y'/'report.md').read_text()
    assert m['threshold_method'] == 'f1' and m['threshold_method_these_data'] == 'youden'
    assert '## At per-label thresholds (f1, chosen on validation (model.json))' in rep and 'youden, chosen on validation' not in rep
    assert 'The `youden` rule asked for was not applied' in rep and '--threshold_method youden not applied' in r.stdout
    assert set(pd.read_csv(site/'y'/'thresholds.csv').method) == {'f1'} and set(pd.read_csv(site/'y'/'thresholds_these_data.csv').method) == {'youden'}


def test_thresholds_paired_through_synonyms(site, model):
    "Item 4: an evaluation's thresholds.csv spelled PNEUMONIA / EFFUSION against predictions named Pneumonia: paired; the unpaired said."
    t = pd.read_csv(site/'a'/'thresholds.csv') if (site/'a').exists() else None
    if t is None: pytest.skip('needs test_chain_of_evaluations_says_same_images')
    t = t[t.label != 'No Finding'].assign(label=lambda d: d.label.str.upper()); (site/'up').mkdir(exist_ok=True)
    t.to_csv(site/'up'/'thresholds.csv', index=False)
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', site/'up'/'thresholds.csv', '--out', site/'u', '--n-boot', 20)
    got = pd.read_csv(site/'u'/'thresholds.csv').set_index('label').threshold
    assert got['Pneumonia'] == pytest.approx(t.set_index('label').threshold['PNEUMONIA']) and np.isnan(got['No Finding'])
    assert 'no threshold for No Finding' in r.stderr and '**Warning**: no threshold for No Finding' in (site/'u'/'report.md').read_text()


def test_null_threshold_undefined_in_predict(site, model):
    "Item 5: a null threshold is 'no threshold' in predict, never marked; passing is strict p > t everywhere."
    from PIL import Image
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(site/'x.png')
    r = xraylib('predict', model, site/'x.png')
    line = next(l for l in r.stdout.splitlines() if 'Effusion' in l)
    assert '(no threshold)' in line and not line.startswith('*') and '0.50' not in line
    j = json.loads(xraylib('predict', model, site/'x.png', '--json').stdout)
    e = next(o for o in j[0]['predictions'] if o['label'] == 'Effusion')
    assert e['threshold'] is None and e['passes'] is False


def test_several_training_sources(site, model, tmp_path):
    "Item 11: --model of a model trained on several sources, with another dataset's labels (a class folder): no TypeError."
    from PIL import Image
    for c in ('NORMAL', 'PNEUMONIA'):
        (tmp_path/'k'/c).mkdir(parents=True)
        for i in range(6): Image.fromarray(np.full((8, 8), i * 9, np.uint8)).save(tmp_path/'k'/c/f'{c}{i}.png')
    rng = np.random.default_rng(0); names = [f'{c}/{c}{i}.png' for c in ('NORMAL', 'PNEUMONIA') for i in range(6)]
    pd.DataFrame({'Image Index': names, 'prob_Pneumonia': rng.random(12), 'prob_No Finding': rng.random(12)}).to_csv(tmp_path/'p.csv', index=False)
    r = xraylib('evaluate', '--preds', tmp_path/'p.csv', '--labels', tmp_path/'k', '--model', model, '--out', tmp_path/'e', '--n-boot', 20)
    assert 'TypeError' not in r.stderr and metrics(tmp_path/'e')['thresholds_chosen_on'] == 'validation (model.json)'


def test_site_model_scale_said(site, model):
    "Audit fix40 item 1: evaluate at a site model's thresholds says they are on its new scale, and where the original-scale ones are."
    if not (site/'site'/'model.json').exists():
        xraylib('calibrate', '--model', model, '--preds', site/'p.csv', '--labels', site/'l.csv', '--n', 30, '--n-boot', 20,
                '--out', site/'site')
    sc = json.loads((site/'site'/'model.json').read_text())['site_calibration']
    assert set(sc['original_scale_thresholds']) == set(LABELS)
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', site/'site', '--out', site/'sc1', '--n-boot', 20)
    for txt in (r.stderr, (site/'sc1'/'report.md').read_text()):
        assert "site calibration's scale" in txt and 'original_scale_thresholds' in txt and 'xraylib predict' in txt
    r = xraylib('evaluate', '--preds', site/'p.csv', '--labels', site/'l.csv', '--model', model, '--out', site/'sc2', '--n-boot', 20)
    assert "site calibration's scale" not in r.stderr


def test_site_refit_small_count_rule():
    "Audit fix40 item 2: a label with 1 positive patient among K = 20 keeps the model's map (not refitted) and says why."
    from xraylib.evaluation.thresholds import EvalData
    from xraylib.evaluation.sitecal import refit_calibration
    rng = np.random.default_rng(0); y = np.zeros((20, 2)); y[:8, 0] = 1; y[0, 1] = 1
    p = np.clip(y * .5 + rng.random((20, 2)) * .4, 0, 1)
    cal = dict(method='platt', a={'Effusion': 2., 'Edema': 3.}, b={'Effusion': -1., 'Edema': -2.})
    comp, top, kept = refit_calibration(EvalData(p, y, ['Effusion', 'Edema'], patient_ids=np.arange(20)), cal)
    assert (top['a']['Edema'], top['b']['Edema']) == (1., 0.) and (comp['a']['Edema'], comp['b']['Edema']) == (3., -2.)
    assert list(kept) == ['Edema'] and '1 positive' in kept['Edema'] and top['a']['Effusion'] != 1.
