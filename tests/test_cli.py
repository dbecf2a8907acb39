"The installed `xraylib` console script, run as a user would, in a subprocess."
import subprocess, sys
import json
import pandas as pd, pytest


def run(*args, **kw):
    return subprocess.run(['xraylib', *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ['phantom', 'download', 'train', 'evaluate', 'predict']: assert cmd in r.stdout


def test_unknown_command_fails_clearly():
    r = run('frobnicate')
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_phantom_writes_kaggle_layout(tmp_path):
    r = run('phantom', '--dest', str(tmp_path/'ph'), '--n', '12', '--size', '48', '--seed', '3')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'ph'/'sample_labels.csv')
    assert len(df) == 12 and len(list((tmp_path/'ph'/'images').glob('*.png'))) == 12


def test_download_without_credentials_exit_2(tmp_path):
    env = {'HOME': str(tmp_path), 'PATH': __import__('os').environ['PATH'], 'XRAYLIB_HOME': str(tmp_path/'x')}
    r = run('download', '--dest', str(tmp_path/'nih'), env=env)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert 'KAGGLE' in r.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "`xraylib train` on a small phantom, with options spelt with dashes."
    d = tmp_path_factory.mktemp('cli')
    assert run('phantom', '--dest', str(d/'ph'), '--n', '60', '--size', '48', '--seed', '2').returncode == 0
    r = run('train', '--data', str(d/'ph'), '--arch', 'resnet18', '--size', '32', '--bs', '16', '--epochs', '1',
            '--freeze-epochs', '0', '--pretrained', 'no', '--out', str(d/'run'), '--quiet')
    assert r.returncode == 0, r.stderr
    return d


def test_train_writes_model_and_evaluation(trained):
    files = {p.name for p in (trained/'run').iterdir()}
    assert {'model.safetensors', 'model.json', 'valid_preds.csv', 'metrics.json', 'history.csv', 'auroc.csv', 'report.md'} <= files
    assert json.loads((trained/'run'/'model.json').read_text())['training']['freeze_epochs'] == 0


def test_evaluate_reads_train_predictions(trained):
    r = run('evaluate', '--preds', str(trained/'run'/'valid_preds.csv'), '--labels', str(trained/'ph'/'sample_labels.csv'),
            '--out', str(trained/'ev'), '--n-boot', '50')
    assert r.returncode == 0, r.stderr
    assert 'mean AUROC' in r.stdout and (trained/'ev'/'auroc.csv').is_file()


def test_predict_json(trained):
    img = sorted((trained/'ph'/'images').glob('*.png'))[0]
    r = run('predict', str(trained/'run'), str(img), '--json')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    probs = [p['probability'] for p in out[0]['predictions']]
    assert len(probs) == 15 and probs == sorted(probs, reverse=True)


def test_unknown_option_fails_clearly(trained):
    r = run('train', '--epoch', '1')
    assert r.returncode == 2 and 'unrecognized arguments' in r.stderr
