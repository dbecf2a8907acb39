#!/usr/bin/env python
"""`xraylib serve` under load (issues 27, 34): its JSON API and its Gradio page, from concurrent clients, against `predict_batch`.

    python benchmarks/bench_app.py                        # 200 requests, 8 clients, resnet18 at 64 px, no Grad-CAM
    python benchmarks/bench_app.py --gradcam              # each request also makes its top label's Grad-CAM overlay
    python benchmarks/bench_app.py --model runs/my-run --requests 400 --concurrency 2

Builds an untrained, seeded resnet18 on ../shared/data/nih-real-200 and saves it with a validation reference (its
atypicality in every answer, as a model `xraylib train` writes; `--no-reference`: without), or takes --model; starts the real
console script `xraylib serve MODEL` on a free 127.0.0.1 port (localhost only; its own temporary folder), sends
--requests requests, one real 1024 px NIH PNG each (the first --images files, in turn), from --clients threads, first
to the JSON API (`requests`, `POST /api/predict`) and then to the page's API (Gradio's Python client, `/predict`),
checks every answer against `Predictor.predict_batch` on the same files (max abs diff <= 1e-5), and prints images/s,
p50/p95 latency and the server's resident memory (VmRSS) before and after each run; before them, one client's
median latency for each path beside `Predictor.predict` in this process. Then times `predict_batch` on the same
--requests files (one process, its own decoding threads) for the throughput ratio. The server is stopped (SIGTERM) at the end; nothing is written to
the repo.
"""
import argparse, os, sys, time, signal, socket, shutil, tempfile, subprocess, statistics, threading, warnings, urllib.request
from pathlib import Path
import numpy as np
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))


def timeit(f, x)->float:
    t = time.perf_counter(); f(x); return time.perf_counter() - t


def cpu_s(pid:int)->float:
    "CPU seconds (user + system) process `pid` has used, all its threads."
    f = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')


def rss_mb(pid:int)->float:
    "Resident memory of process `pid` in MB (VmRSS)."
    for l in Path(f'/proc/{pid}/status').read_text().splitlines():
        if l.startswith('VmRSS:'): return int(l.split()[1]) / 1024
    return float('nan')


def start(model, tmp:Path, concurrency, threads=None):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    (tmp/'tmp').mkdir(exist_ok=True)
    env = {**os.environ, 'TMPDIR': str(tmp/'tmp'), 'GRADIO_ANALYTICS_ENABLED': 'False',
           **({'OMP_NUM_THREADS': str(threads)} if threads else {})}
    cmd = ['xraylib', 'serve', str(model), '--host', '127.0.0.1', '--port', str(port)] + (['--concurrency', str(concurrency)] if concurrency else [])
    proc = subprocess.Popen(cmd, stdout=open(tmp/'serve.log', 'w'), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url, t0 = f'http://127.0.0.1:{port}/', time.time()
    while True:
        if proc.poll() is not None: sys.exit('xraylib serve exited:\n' + (tmp/'serve.log').read_text()[-3000:])
        try: urllib.request.urlopen(url, timeout=2); return proc, url
        except Exception:
            if time.time() - t0 > 120: proc.kill(); sys.exit('xraylib serve did not answer in 120 s')
            time.sleep(0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', help='a model folder (default: an untrained resnet18 on nih-real-200, saved in a temp folder)')
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--requests', type=int, default=200); ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--images', type=int, default=20, help='distinct images, sent in turn')
    ap.add_argument('--concurrency', type=int, help="the server's --concurrency (default: its own, min(4, CPUs))")
    ap.add_argument('--gradcam', action='store_true', help="ask for each image's top-label Grad-CAM too")
    ap.add_argument('--server-threads', type=int, help="the server's torch/ONNX Runtime threads (OMP_NUM_THREADS)")
    ap.add_argument('--no-reference', action='store_true', help='the built model without a validation reference '
                    '(no atypicality in the answers)')
    a = ap.parse_args()
    import torch
    from gradio_client import Client, handle_file
    from xraylib.core import shared_data
    from xraylib.inference.predict import Predictor
    import requests
    tmp = Path(tempfile.mkdtemp(prefix='bench-app-'))
    proc, failed = None, False
    try:
        if a.model: model = Path(a.model)
        else:
            from _real_model import real_model
            from xraylib.evaluation.shift import make_reference
            _, dls, _, model = real_model(a.arch, a.size, 32, tmp)
            # as `xraylib train` saves one: every answer carries the image's atypicality
            if not a.no_reference: make_reference(model, [Path(f) for f in dls.valid.items['path']])
        src = shared_data('nih-real-200')
        if src is None: sys.exit('needs ../shared/data/nih-real-200 (see ../shared/README.md)')
        files = sorted((src/'images').glob('*.png'))[:a.images]
        pred = Predictor.from_file(model)
        ref = pred.predict_batch(files, quiet=True)
        aty = ref.attrs['atypicality']; aty = None if aty is None else dict(zip(ref['Image Index'], aty.score))
        ref = ref.set_index('Image Index')
        print(f'{pred}, engine {type(pred.infer_model).__name__}; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; '
              f'{len(files)} distinct real NIH PNGs (1024 px); validation reference: '
              f'{"yes (atypicality in each answer)" if pred.reference is not None else "no"}')
        proc, url = start(model, tmp, a.concurrency, a.server_threads)
        cam = '(most probable)' if a.gradcam else '(none)'
        local = threading.local()
        def ask_gradio(f):
            if not hasattr(local, 'c'): local.c = Client(url, verbose=False, download_files=False)
            t = time.perf_counter()
            out = local.c.predict([handle_file(str(f))], cam, True, api_name='/predict')
            return time.perf_counter() - t, out[3][f.name]
        def ask_json(f):
            if not hasattr(local, 's'): local.s = requests.Session()
            t = time.perf_counter()
            r = local.s.post(url + 'api/predict', files={'file': (f.name, f.read_bytes())}, data={'gradcam': 'top'} if a.gradcam else {}, timeout=300)
            r.raise_for_status()
            return time.perf_counter() - t, {o['label']: o['probability'] for o in r.json()['results'][0]['predictions']}
        for f in files[:a.clients]: ask_gradio(f); ask_json(f)  # warm-up: the server's first requests, this thread's clients
        if aty is not None:  # each answer's atypicality is predict_batch's (3 decimals in the JSON)
            got = [requests.post(url + 'api/predict', files={'file': (f.name, f.read_bytes())}, timeout=300).json()
                   ['results'][0]['atypicality'] for f in files]
            same = sum(abs(g - aty[f.name]) <= 1.5e-3 for g, f in zip(got, files))
            print(f'atypicality in the JSON answers equal to predict_batch\'s: {same} of {len(files)}'); failed |= same < len(files)
        seq = files * (20 // len(files) + 1)
        med = lambda f: statistics.median(timeit(f, x) for x in seq[:20]) * 1e3
        t_pred = med(pred.predict)
        t_json, t_grad = [statistics.median(ask(x)[0] for x in seq[:20]) * 1e3 for ask in (ask_json, ask_gradio)]
        print(f'one request, one client, medians of 20: Predictor.predict in this process {t_pred:.1f} ms; JSON API {t_json:.1f} ms '
              f'({t_json / t_pred:.2f}x); Gradio page API {t_grad:.0f} ms')
        rates, cpu = {}, {}  # cpu: path -> (server, clients) CPU ms a request
        for name, ask in (('JSON API', ask_json), ('Gradio', ask_gradio)):
            rss0, cpu0, mine0 = rss_mb(proc.pid), cpu_s(proc.pid), time.process_time()
            jobs, lock, lat, bad, errs = list(range(a.requests)), threading.Lock(), [], [], []
            def client():
                while True:
                    with lock:
                        if not jobs: return
                        i = jobs.pop()
                    f = files[i % len(files)]
                    try: dt, probs = ask(f)
                    except Exception as e:
                        with lock: errs.append(f'{f.name}: {type(e).__name__}: {e}')
                        continue
                    got = np.array([probs[l] for l in pred.vocab])
                    d = np.abs(got - ref.loc[f.name, [f'prob_{l}' for l in pred.vocab]].to_numpy(float)).max()
                    with lock:
                        lat.append(dt)
                        if d > 1e-5: bad.append((f.name, d))
            t0 = time.perf_counter()
            ts = [threading.Thread(target=client) for _ in range(a.clients)]
            for t in ts: t.start()
            for t in ts: t.join()
            wall = time.perf_counter() - t0
            rss1, lat_ms, rates[name] = rss_mb(proc.pid), np.array(lat) * 1e3, len(lat) / wall
            cpu[name] = ((cpu_s(proc.pid) - cpu0) / a.requests * 1e3, (time.process_time() - mine0) / a.requests * 1e3)
            print(f'{name}: {a.requests} requests from {a.clients} clients in {wall:.1f} s: {rates[name]:.1f} images/s; '
                  f'latency p50 {np.percentile(lat_ms, 50):.0f} ms, p95 {np.percentile(lat_ms, 95):.0f} ms; Grad-CAM {"on" if a.gradcam else "off"}')
            print(f'  answers equal to predict_batch (<= 1e-5): {len(lat) - len(bad)} of {a.requests}; failed requests: {len(errs)}; '
                  f'server memory (VmRSS) {rss0:.0f} MB before, {rss1:.0f} MB after ({rss1 - rss0:+.0f} MB)')
            print(f'  CPU a request: the server {cpu[name][0]:.1f} ms, the clients {cpu[name][1]:.1f} ms')
            for e in errs[:5]: print('  error:', e)
            for n, d in bad[:5]: print(f'  differs: {n} by {d:.2e}')
            if bad or errs or len(lat) != a.requests: failed = True
        stop_rc = stop(proc); proc = None
        batch = [files[i % len(files)] for i in range(a.requests)]
        pred.predict_batch(batch[:32], quiet=True)  # warm-up
        c = time.process_time(); t = time.perf_counter(); pred.predict_batch(batch, quiet=True); tb = time.perf_counter() - t
        cb = (time.process_time() - c) / a.requests * 1e3
        print(f'predict_batch on the same {a.requests} files: {tb:.1f} s, {a.requests / tb:.1f} images/s; the JSON API reaches '
              f'{100 * rates["JSON API"] / (a.requests / tb):.0f}% of it, the Gradio page {100 * rates["Gradio"] / (a.requests / tb):.0f}%')
        js, jc = cpu['JSON API']; ncpu = len(os.sched_getaffinity(0))
        print(f'  CPU an image: predict_batch {cb:.1f} ms; the JSON API {js:.1f} ms in the server + {jc:.1f} ms in the clients: '
              f'with its {ncpu} cores fully busy it would reach {ncpu * 1e3 / (js + jc):.0f} images/s, '
              f'{100 * ncpu * 1e3 / (js + jc) / (a.requests / tb):.0f}% of predict_batch')
        left = [p.name for p in (tmp/'tmp').iterdir()]
        print(f'  server stopped (exit {stop_rc}); left in its temporary folder: {left or "nothing"}')
        if failed: sys.exit(1)
    finally:
        if proc is not None: stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def stop(proc)->int:
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: pass
    try: return proc.wait(timeout=30)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); return proc.wait()


if __name__ == '__main__': main()
