"The installed `xraylib` console script, run as a user would, in a subprocess: every subcommand and every option."
import inspect, json, os, re, subprocess, sys
from pathlib import Path
import pandas as pd, pytest
from xraylib.cli import COMMANDS, cli_parser, _resolve

HERE = Path(__file__).parent


def run(*args, **kw):
    return subprocess.run(['xraylib', *args], capture_output=True, text=True, timeout=600, **kw)


def options(cmd):
    "The `--options` (and positionals) of subcommand `cmd`, as its parser has them."
    return [a.option_strings[0] if a.option_strings else a.dest
            for a in cli_parser(_resolve(cmd))._actions if a.dest != 'help']


def test_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in COMMANDS: assert cmd in r.stdout


@pytest.mark.parametrize('cmd', list(COMMANDS))
def test_subcommand_help_lists_every_option(cmd):
    r = run(cmd, '--help')
    assert r.returncode == 0 and 'Warning' not in r.stderr, r.stderr  # no third-party deprecation noise either
    for o in options(cmd): assert (o if o.startswith('--') else o) in r.stdout, (cmd, o)
    assert not re.findall(r'--[a-z0-9-]*_[a-z0-9_-]*', r.stdout), f'xraylib {cmd} --help prints an option with an underscore'


def test_underscore_spelling_still_works(tmp_path):
    "Options print with dashes, but the Python names' underscores are read the same: `--n_boot` is `--n-boot`."
    no = str(tmp_path/'nothing-here.csv')
    r = run('evaluate', '--preds', no, '--labels', no, '--n_boot', '5', '--threshold_method=youden', '--out', str(tmp_path/'e'))
    assert r.returncode == 1 and 'no such' in r.stderr and 'unrecognized' not in r.stderr, r.stderr  # parsed; the file is missing
    p, dashed = cli_parser(_resolve('train')), __import__('xraylib.cli', fromlist=['_dashed'])._dashed
    a = p.parse_args(list(map(dashed, ['--n_boot', '5', '--no_bf16', '--freeze_epochs=1', '--image_col', 'my_col'])))
    assert (a.n_boot, a.bf16, a.freeze_epochs, a.image_col) == (5, False, 1, 'my_col')


def test_train_help_offers_every_train_option():
    "`xraylib train --help` offers every parameter of `train` except its callbacks."
    from xraylib.training.learner import train
    h = run('train', '--help').stdout
    for k in inspect.signature(train).parameters:
        if k == 'cbs': continue
        assert re.search(rf'--(no-)?{k.replace("_", "-")}\b', h), k


@pytest.mark.parametrize('cmd', list(COMMANDS))
def test_every_option_is_exercised_through_the_console_script(cmd):
    "Each option of each subcommand appears in an `xraylib` invocation in this file or one of the other CLI test files below."
    src = ''.join((HERE/f).read_text() for f in ('test_cli.py', 'test_faults.py', 'test_learner.py', 'test_predict.py', 'test_app.py',
                                                 'test_localize.py', 'test_datasets.py', 'test_external.py', 'test_shift.py',
                                                 'test_app_attacks.py'))
    said = {o.replace('_', '-') for o in set(re.findall(r"'(--[a-z0-9-_]+)'", src)) | set(re.findall(r'(--[a-z0-9-]+)', src))}
    missing = [o for o in options(cmd) if o.startswith('--') and o not in said]
    assert not missing, f'xraylib {cmd}: options never run by a test: {missing}'


def test_unknown_command_fails_clearly():
    r = run('frobnicate')
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_phantom_writes_kaggle_layout(tmp_path):
    r = run('phantom', '--dest', str(tmp_path/'ph'), '--n', '12', '--size', '48', '--seed', '3', '--num-workers', '1')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'ph'/'sample_labels.csv')
    assert len(df) == 12 and len(list((tmp_path/'ph'/'images').glob('*.png'))) == 12
    r = run('phantom', '--dest', str(tmp_path/'ph'), '--n', '12', '--size', '48', '--seed', '3', '--num-workers', '1', '--force')
    assert r.returncode == 0 and 'reus' not in r.stdout.lower(), r.stdout


def _no_kaggle_env(tmp_path)->dict:
    "An environment without Kaggle credentials (and with this checkout first on the path)."
    return {'HOME': str(tmp_path), 'PATH': os.environ['PATH'], 'XRAYLIB_HOME': str(tmp_path/'x'),
            **{k: os.environ[k] for k in ('PYTHONPATH',) if k in os.environ}}


def test_download_without_credentials_exit_1(tmp_path):
    env = _no_kaggle_env(tmp_path)
    r = run('download', '--dest', str(tmp_path/'nih'), '--force', env=env)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert 'KAGGLE' in r.stderr
    r = run('download', '--dest', str(tmp_path/'full'), '--full', env=env)  # the full ChestX-ray14 checks the disk space first
    assert r.returncode == 1 and 'Traceback' not in r.stderr and ('KAGGLE' in r.stderr or 'GB free' in r.stderr), r.stderr


def _bad_input(cmd:str, d:Path)->list:
    "Arguments of `xraylib cmd` that parse but name input it cannot use (missing files, an impossible sample size)."
    no = str(d/'nothing-here')
    return {'phantom': ['--n', '0', '--dest', str(d/'ph')], 'download': ['--dest', str(d/'nih')],
            'train': ['--data', no, '--out', str(d/'run'), '--quiet'],
            'evaluate': ['--preds', no + '.csv', '--labels', no + '.csv', '--out', str(d/'ev')],
            'predict': [no, no + '.png'], 'compare': [no + '_a.csv', no + '_b.csv', '--labels', no + '.csv'],
            'calibrate': ['--model', no, '--preds', no + '.csv', '--labels', no + '.csv'],
            'localize': [no, no + '.png', '--boxes', no + '.csv', '--out', str(d/'loc')], 'serve': [no],
            'shift': [no, no, '--out', str(d/'sh')]}[cmd]


def _bad_values(d:Path)->list:
    """`(cmd, args, option)`: command lines that parse but give an option an impossible value; the reason must name
    `option`. The value is checked first, so the other arguments may be missing files (a tiny valid pair for evaluate)."""
    no = str(d/'nothing-here')
    (d/'p.csv').write_text('Image Index,prob_Mass\n' + ''.join(f'{i}.png,{i/10}\n' for i in range(10)))
    (d/'l.csv').write_text('Image Index,Finding Labels\n' + ''.join(f'{i}.png,{"Mass" if i > 4 else "No Finding"}\n'
                                                                    for i in range(10)))
    return [('shift', [no, no, '--alpha', '5', '--out', str(d/'sh-a')], '--alpha'),
            ('shift', [no, no, '--n-boot', '0', '--out', str(d/'sh-b')], '--n-boot'),
            ('evaluate', ['--preds', str(d/'p.csv'), '--labels', str(d/'l.csv'), '--threshold-method', 'bogus',
                          '--out', str(d/'ev-m')], '--threshold-method bogus: give f1, youden or sensitivity'),
            ('localize', [no, no + '.png', '--boxes', no + '.csv', '--level', '2', '--out', str(d/'loc-a')], '--level'),
            ('localize', [no, no + '.png', '--boxes', no + '.csv', '--level', '-1', '--out', str(d/'loc-b')], '--level'),
            ('predict', [no, no + '.png', '--thresholds', '1.5', '--csv', str(d/'pr-a.csv')], '--thresholds'),
            ('predict', [no, no + '.png', '--thresholds', '-0.5', '--csv', str(d/'pr-b.csv')], '--thresholds'),
            ('train', ['--data', 'phantom', '--threads', 'bogus', '--out', str(d/'run-t'), '--quiet'], '--threads bogus'),
            ('calibrate', ['--model', no, '--preds', no + '.csv', '--labels', no + '.csv', '--curve', '10,bogus',
                           '--out', str(d/'cal-c')], '--curve'),
            # counts, fractions and ports no command can use (`cli.impossible`, checked for every command)
            ('predict', [no, no + '.png', '--bs', '0', '--csv', str(d/'pr-c.csv')], '--bs 0'),
            ('train', ['--data', 'phantom', '--valid-pct', '1.5', '--out', str(d/'run-v'), '--quiet'], '--valid-pct'),
            ('evaluate', ['--preds', str(d/'p.csv'), '--labels', str(d/'l.csv'), '--n-boot', '0',
                          '--out', str(d/'ev-b')], '--n-boot 0'),
            ('calibrate', ['--model', no, '--preds', no + '.csv', '--labels', no + '.csv', '--n', '0',
                           '--out', str(d/'cal-n')], '--n 0'),
            ('serve', [no, '--port', '99999'], '--port 99999')]


def test_one_exit_status_for_bad_input(tmp_path):
    "Every command: input it cannot use (a missing file, an impossible value) exits 1 with `xraylib CMD: reason`, no"
    "traceback, nothing written; a command line argparse refuses (an unknown option) exits 2, the usage error."
    from concurrent.futures import ThreadPoolExecutor
    env = _no_kaggle_env(tmp_path)
    jobs = ([(c, _bad_input(c, tmp_path), '') for c in COMMANDS] + _bad_values(tmp_path) +
            [(c, ['--no-such-option'], '') for c in COMMANDS])
    assert {c for c, *_ in jobs} == set(COMMANDS) == {'phantom', 'download', 'train', 'evaluate', 'predict', 'compare',
                                                      'calibrate', 'localize', 'serve', 'shift'}
    with ThreadPoolExecutor(4) as ex: rs = list(ex.map(lambda j: run(j[0], *j[1], env=env), jobs))
    bad = []
    for (c, args, opt), r in zip(jobs, rs):
        want = 2 if args == ['--no-such-option'] else 1
        said = r.stderr.splitlines()  # (a first run may print matplotlib's font-cache note before)
        ok = any(l.startswith(f'xraylib {c}: ' if want == 1 else 'usage: xraylib') and opt in l for l in said)
        if r.returncode != want or 'Traceback' in r.stderr or not ok:
            bad.append(f'xraylib {c} {" ".join(args[-3:])}: exit {r.returncode}, {r.stderr.strip()[-300:]!r}')
    assert not bad, '\n'.join(bad)
    written = ('ph', 'nih', 'run', 'ev', 'loc', 'sh', 'sh-a', 'sh-b', 'ev-m', 'loc-a', 'loc-b', 'pr-a.csv', 'pr-b.csv',
               'run-t', 'cal-c')
    assert not [o for o in written if (tmp_path/o).exists()]  # nothing written


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "`xraylib train` on a small phantom it makes itself (`--data phantom --n`), with options spelt with dashes."
    d = tmp_path_factory.mktemp('cli')
    env = {**os.environ, 'XRAYLIB_HOME': str(d/'home')}
    r = run('train', '--data', 'phantom', '--n', '60', '--arch', 'resnet18', '--size', '32', '--bs', '16', '--epochs', '2',
            '--freeze-epochs', '0', '--lr', '3e-3', '--no-pretrained', '--out', str(d/'run'), '--seed', '3',
            '--valid-pct', '0.25', '--n-boot', '20', '--num-workers', '0', '--patience', '3', '--no-download',
            '--channels-last', '--no-fp16', '--no-pos-weight', '--quiet', '--bf16', '--threads', '1', '--flip', '--min-zoom', '0.8',
            '--max_zoom', '1.2', '--max-brightness', '0.15', '--max-contrast', '0.25', '--max-gamma', '0.3', env=env)
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.slow
def test_train_writes_model_and_evaluation(trained):
    files = {p.name for p in (trained/'run').iterdir()}
    assert {'model.safetensors', 'model.json', 'valid_preds.csv', 'metrics.json', 'history.csv', 'auroc.csv', 'report.md'} <= files
    t = json.loads((trained/'run'/'model.json').read_text())['training']
    assert (t['freeze_epochs'], t['seed'], t['valid_pct'], t['n'], t['size']) == (0, 3, 0.25, 60, 32)
    assert (t['bf16'], t['bf16_why'], t['torch_threads']) == (True, 'forced on (--bf16)', 1)
    assert (t['flip'], t['min_zoom'], t['max_zoom'], t['max_brightness'], t['max_contrast'], t['max_gamma']) == (True, 0.8, 1.2, 0.15, 0.25, 0.3)
    assert json.loads((trained/'run'/'metrics.json').read_text())['bootstrap']['n_boot'] == 20
    assert Path(t['source']).is_relative_to(trained/'home')  # the phantom went to $XRAYLIB_HOME


@pytest.mark.slow
def test_train_bad_weights_file_fails_clearly(trained, tmp_path):
    src = json.loads((trained/'run'/'model.json').read_text())['training']['source']
    r = run('train', '--data', src, '--arch', 'resnet18', '--size', '32', '--epochs', '1', '--pretrained',
            '--weights', str(tmp_path/'nope.pth'), '--out', str(tmp_path/'r'), '--quiet', '--no-bf16', '--no-flip',
            '--fp16')  # a GPU option: ignored on the CPU, with a warning
    assert r.returncode == 1 and 'does not exist' in r.stderr and 'Traceback' not in r.stderr, r.stderr


@pytest.mark.slow
def test_evaluate_reads_train_predictions(trained):
    src = json.loads((trained/'run'/'model.json').read_text())['training']['source']
    r = run('evaluate', '--preds', str(trained/'run'/'valid_preds.csv'), '--labels', str(Path(src)/'sample_labels.csv'),
            '--out', str(trained/'ev'), '--n-boot', '50', '--seed', '1', '--threshold-method', 'youden', '--by', 'sex,view')
    assert r.returncode == 0, r.stderr
    assert 'mean AUROC' in r.stdout and (trained/'ev'/'auroc.csv').is_file()
    attrs = set(pd.read_csv(trained/'ev'/'subgroups.csv')['attribute'])
    assert {'sex', 'view'} <= attrs and 'age' not in attrs, attrs
    assert json.loads((trained/'ev'/'metrics.json').read_text())['threshold_method'] == 'youden'


@pytest.mark.slow
def test_predict_json(trained):
    src = json.loads((trained/'run'/'model.json').read_text())['training']['source']
    img = sorted((Path(src)/'images').glob('*.png'))[0]
    r = run('predict', str(trained/'run'), str(img), '--json')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    probs = [p['probability'] for p in out[0]['predictions']]
    assert len(probs) == 15 and probs == sorted(probs, reverse=True)
    raw = json.loads(run('predict', str(trained/'run'), str(img), '--json', '--raw').stdout)  # before the model's recalibration
    tta = json.loads(run('predict', str(trained/'run'), str(img), '--json', '--tta').stdout)  # flip TTA: other probabilities
    assert sorted(p['probability'] for p in tta[0]['predictions']) != sorted(probs)
    assert {p['label'] for p in raw[0]['predictions']} == {p['label'] for p in out[0]['predictions']}
    assert sorted(p['probability'] for p in raw[0]['predictions']) != sorted(probs)
    r = run('predict', str(trained/'run'), str(img), '--gradcam', str(trained/'cams'), '--cam-label', 'Effusion')
    assert r.returncode == 0 and [p.name for p in (trained/'cams').iterdir()] == [f'{img.stem}_Effusion.png'], r.stderr
    r = run('predict', str(trained/'run'), str(img), '--thresholds', '0.0')  # every label passes a cut-off of 0
    rows = [l for l in r.stdout.splitlines() if '(threshold' in l]
    assert r.returncode == 0 and len(rows) == 15 and all(l.startswith('*') and '(threshold 0.00)' in l for l in rows), r.stdout


@pytest.mark.slow
def test_calibrate_site_curve_and_adapted_model(trained, tmp_path):
    "`xraylib calibrate` on the run's validation predictions as the 'site': one draw, the curve over K, the adapted model."
    run_dir, vp = trained/'run', str(trained/'run'/'valid_preds.csv')
    r = run('calibrate', '--model', str(run_dir), '--preds', vp, '--labels', vp, '--n', '6', '--curve', '4,6', '--draws', '3',
            '--seed', '2', '--n-boot', '50', '--format', 'auto', '--site', 'phantom site', '--out', str(tmp_path/'site'))
    assert r.returncode == 0, r.stderr
    assert 'seed 2), scored on the other' in r.stdout and 'original threshold' in r.stdout
    m, orig = json.loads((tmp_path/'site'/'model.json').read_text()), json.loads((run_dir/'model.json').read_text())
    assert m['site_calibration']['site'] == 'phantom site' and m['site_calibration']['original_thresholds'] == orig['thresholds']
    assert m['weights_sha256'] == orig['weights_sha256'] and (tmp_path/'site'/'model.safetensors').read_bytes() == (run_dir/'model.safetensors').read_bytes()
    assert set(pd.read_csv(tmp_path/'site'/'site_curve.csv').draws) == {3}
    r = run('calibrate', '--model', str(run_dir), '--preds', vp)
    assert r.returncode == 2 and 'are required' in r.stderr


def test_unknown_option_fails_clearly():
    r = run('train', '--epoch', '1')
    assert r.returncode == 2 and 'unrecognized arguments' in r.stderr


@pytest.mark.slow
def test_compare_two_models(trained):
    "`xraylib compare` on the run's predictions and a noisier copy of them (same images, same labels)."
    import numpy as np
    src = json.loads((trained/'run'/'model.json').read_text())['training']['source']
    a = pd.read_csv(trained/'run'/'valid_preds.csv'); b = a.copy()
    cols = [c for c in a.columns if c.startswith('prob_')]
    b[cols] = (b[cols] + np.random.default_rng(0).normal(0, .2, b[cols].shape)).clip(0, 1)
    b.to_csv(trained/'b.csv', index=False)
    r = run('compare', str(trained/'run'/'valid_preds.csv'), str(trained/'b.csv'), '--labels', str(Path(src)/'sample_labels.csv'),
            '--out', str(trained/'cmp'), '--n-boot', '50', '--seed', '1')
    assert r.returncode == 0, r.stderr
    c = pd.read_csv(trained/'cmp'/'comparison.csv')
    assert list(c.columns) == ['label', 'auroc_a', 'auroc_b', 'diff', 'diff_lo', 'diff_hi', 'p_delong', 'p_holm', 'n_pos',
                               'n_pos_patients', 'n_neg', 'n_neg_patients', 'n_unknown', 'n_degenerate', 'note']
    assert 'mean' in c['label'].tolist()


@pytest.fixture(scope='module')
def two_sources(tmp_path_factory):
    "`xraylib train` on two phantom sources with different vocabularies (NIH's 15 labels; NORMAL/PNEUMONIA folders with a test/): merged, and leaving one out."
    from xraylib.datasets.phantom import make_phantom_sample, make_phantom_folder_set
    d = tmp_path_factory.mktemp('sources')
    nih, kids = make_phantom_sample(d/'nih', n=40, size=32, seed=0, num_workers=0), make_phantom_folder_set(d/'kids', n=40, size=32, seed=1)
    common = ['--data', str(nih), '--data', f'{kids}:patient_regex=^(person\\d+)_', '--size', '32', '--bs', '16', '--epochs', '1',
              '--no-pretrained', '--n-boot', '20', '--quiet']
    for out, extra in (('merged', ['--balance', 'sources']), ('loo', ['--holdout-source', 'kids'])):
        r = run('train', *common, *extra, '--out', str(d/out), env={**os.environ, 'XRAYLIB_HOME': str(d/'home')})
        assert r.returncode == 0, r.stderr
    return d


@pytest.mark.slow
def test_train_two_sources_one_model_per_source_reports(two_sources):
    "One model on the union of the labels; model.json names each source's own labels; every source evaluated on its own labels, the folder set's test/ held out."
    t = json.loads((two_sources/'merged'/'model.json').read_text())['training']
    assert t['balance'] == 'sources' and sorted(t['sources']) == ['kids', 'nih']
    assert t['sources']['kids']['labels'] == {'Pneumonia': 'PNEUMONIA', 'No Finding': 'NORMAL'} and t['sources']['kids']['outputs'] == ['Pneumonia']
    assert len(t['vocab']['labels']) == 15
    assert json.loads((two_sources/'merged'/'sources'/'valid'/'kids'/'metrics.json').read_text())['labels'] == ['Pneumonia']
    assert len(json.loads((two_sources/'merged'/'sources'/'valid'/'nih'/'metrics.json').read_text())['labels']) == 15
    assert (two_sources/'merged'/'sources'/'test'/'kids'/'auroc.csv').exists() and not (two_sources/'merged'/'sources'/'test'/'nih').exists()
    rep = (two_sources/'merged'/'report.md').read_text()
    assert '## Per source' in rep and '| test | kids | Pneumonia |' in rep and '**Warning (Pneumonia)**' in rep
    valid = pd.read_csv(two_sources/'merged'/'valid_preds.csv')
    assert {i.split('/')[0] for i in valid['Image Index'] if '/' in i} <= {'train'}  # no test/ image in validation


@pytest.mark.slow
def test_train_holdout_source_scores_it_as_external(two_sources):
    "--holdout-source kids: trained on nih alone, then the saved model scores the folder set's test/ on the shared label only."
    t = json.loads((two_sources/'loo'/'model.json').read_text())['training']
    assert sorted(t['sources']) == ['nih'] and t['holdout']['name'] == 'kids'
    m = json.loads((two_sources/'loo'/'metrics.json').read_text())
    assert m['holdout']['labels'] == ['Pneumonia'] and m['holdout']['which'] == 'its own test set'
    h = json.loads((two_sources/'loo'/'holdout'/'kids'/'metrics.json').read_text())
    assert h['labels'] == ['Pneumonia'] and h['n_images'] == len(pd.read_csv(two_sources/'loo'/'holdout'/'kids'/'preds.csv'))
    assert '## Held-out source: kids' in (two_sources/'loo'/'report.md').read_text()
