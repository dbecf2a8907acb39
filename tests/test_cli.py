"The installed `xraylib` console script, run as a user would, in a subprocess."
import subprocess, sys
import pandas as pd


def run(*args, **kw):
    return subprocess.run(['xraylib', *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ['phantom', 'download']: assert cmd in r.stdout


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
