"`xraylib` output in a log file against a terminal (issue 26, item 4): no progress-bar frames in a file, one line per epoch; bars still drawn under a pseudo-terminal."
import os, pty, re, subprocess, sys
import pytest

pytestmark = pytest.mark.slow  # trains a model

FRAMES = (b'\r', '█'.encode(), b'|--', b'<div', b'<progress', b'% [')  # fastprogress console redraws, bar fill, its html


def test_train_to_a_log_file_writes_one_line_per_epoch_and_no_bar_frames(tmp_path):
    env = {**os.environ, 'XRAYLIB_HOME': str(tmp_path/'home')}
    log = tmp_path/'train.log'
    with open(log, 'wb') as f:
        r = subprocess.run(['xraylib', 'train', '--n', '48', '--size', '32', '--bs', '16', '--epochs', '2', '--no-pretrained',
                            '--out', str(tmp_path/'run')], stdout=f, stderr=subprocess.PIPE, env=env, timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    b = log.read_bytes()
    assert not [s for s in FRAMES if s in b], b[:1500]
    lines = b.decode().splitlines()
    head = next(i for i, l in enumerate(lines) if l.split()[:2] == ['epoch', 'train_loss'])
    rows = [l.split()[0] for l in lines[head + 1:] if l[:1].isdigit()]
    assert rows == ['0', '1'], lines  # one line per epoch (BestModelCallback's notes between them)
    assert any(l.startswith('drawing 48 phantom images') for l in lines) and any(l.startswith('caching 48 images') for l in lines), lines
    assert len(b) < 3000, len(b)


def _under_pty(args, env)->bytes:
    "Run `args` with stdout and stderr on a pseudo-terminal; what it wrote."
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b''
    while True:
        try: chunk = os.read(master, 65536)
        except OSError: break  # EIO: the child closed the terminal
        if not chunk: break
        out += chunk
    p.wait(timeout=120); os.close(master)
    assert p.returncode == 0, out[-2000:]
    return out


def test_bars_still_drawn_in_a_terminal(tmp_path):
    out = _under_pty(['xraylib', 'phantom', '--dest', str(tmp_path/'ph'), '--n', '12', '--size', '32', '--num-workers', '1'],
                     {**os.environ, 'XRAYLIB_HOME': str(tmp_path/'home')})
    assert b'\r' in out and '█'.encode() in out and b'[12/12' in out, out[-1000:]
