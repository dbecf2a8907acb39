"""Issue 41: the attacks on `xraylib serve`, rerun as tests against a real server on 127.0.0.1, bounded in count, time.

One server without a password (the page's Gradio API, the JSON API) and one with `--auth` (login attempts). Every
test here failed on the code before the fix; the answer it got then is in the comment beside each assertion.
The threat model and the protections: nbs/topics/security.md.
"""
import json, select, shutil, socket, time
from pathlib import Path
import pytest, requests

from conftest import shared_path
from test_app import model, start_server, stop  # noqa: F401  (model: test_app's trained 32 px model, a fixture)

NO_CORS = lambda r: not [h for h in r.headers if h.lower().startswith('access-control')]
TIMEOUT = 4  # seconds: the server's --body-timeout


@pytest.fixture(scope='module')
def server(model, tmp_path_factory):
    "`xraylib serve MODEL --max-file-size 1mb --max-files 2 --concurrency 2 --body-timeout 4` (a body limit of 3 MB, in"
    "4 s): `(url, port, tmp)`."
    tmp = tmp_path_factory.mktemp('attacks')
    proc, url, log = start_server(model, tmp, '--max-file-size', '1mb', '--max-files', '2', '--concurrency', '2',
                                  '--allowed-hosts', 'xray.example', '--body-timeout', str(TIMEOUT))
    yield url, int(url.rsplit(':', 1)[1]), tmp
    assert stop(proc) == 0, log.read_text()[-3000:]


@pytest.fixture(scope='module')
def png():
    return sorted(shared_path('nih-real-1000-64px', 'images').glob('*.png'))[0]  # a real NIH PNG at 64 px: a few kB


def _ok(url, png):
    "The server still answers a normal request."
    r = requests.post(f'{url}/api/predict', files={'file': (png.name, png.read_bytes())}, timeout=60)
    assert r.status_code == 200 and 'predictions' in r.json()['results'][0], r.text


def _call(url, path):
    "The page's Gradio API asked, as any client can, to predict the file at `path`: `(status, body, event text)`."
    data = {'data': [[{'path': str(path), 'meta': {'_type': 'gradio.FileData'}}], '(most probable)', True]}
    r = requests.post(f'{url}/gradio_api/call/predict', json=data, timeout=30)
    if r.status_code != 200: return r.status_code, r.text, ''
    return r.status_code, r.text, requests.get(f"{url}/gradio_api/call/predict/{r.json()['event_id']}", timeout=60).text


@pytest.mark.timeout(900)  # the first test: trains the model and starts the server
def test_gradio_api_refuses_server_paths(server, png, tmp_path):
    "Item 1: a file on the server named by path is never read, existing or not; an upload is still predicted."
    from gradio_client import Client, handle_file
    url, *_ = server
    scan = tmp_path/'scan.png'; shutil.copy(png, scan)  # a real PNG outside the server's upload folder
    there, missing = _call(url, scan), _call(url, tmp_path/'missing.png')
    assert 'predicted' not in there[2], there  # before: 200, then '1 file(s) predicted', a Grad-CAM
    assert there[0] == 403 and 'not a file uploaded to this server' in json.loads(there[1])['error'], there
    assert missing[:2] == there[:2], (missing, there)  # the same answer: whether a file exists does not leak
    msg, tables, cams, probs = Client(url, verbose=False, download_files=False).predict(
        [handle_file(str(png))], '(none)', True, api_name='/predict')  # a real upload is still predicted
    assert msg == '1 file(s) predicted.' and set(probs) == {png.name}, (msg, probs)


def _first_line(port, head:bytes, wait:float=5)->bytes:
    "Send `head` on a fresh socket: the first line of the answer within `wait` seconds (b'' if none)."
    with socket.create_connection(('127.0.0.1', port), timeout=wait) as s:
        s.sendall(head)
        try: return s.recv(300).split(b'\r\n')[0]
        except socket.timeout: return b''


HEAD = b'POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XX\r\n'


@pytest.mark.timeout(300)
def test_bodies_that_never_arrive(server, png):
    "Item 2: a declared length over the limit a 413 at once; stalled bodies hold nobody up; chunked cut at the limit."
    url, port, _ = server
    t = time.time(); first = _first_line(port, HEAD + b'Content-Length: 10000000000\r\n\r\n')
    assert first.startswith(b'HTTP/1.1 413') and time.time() - t < 5, first  # before: no answer (it waited)
    stalled = [socket.create_connection(('127.0.0.1', port)) for _ in range(3)]  # more than --concurrency 2
    try:
        for s in stalled: s.sendall(HEAD + b'Content-Length: 1000\r\n\r\n--XX')
        time.sleep(0.5); t = time.time(); _ok(url, png)  # before: a ReadTimeout (slots held by stalled bodies)
        assert time.time() - t < 30
    finally:
        for s in stalled: s.close()
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:  # up to 100 MB chunked, against a 3 MB limit
        s.sendall(HEAD + b'Transfer-Encoding: chunked\r\n\r\n')
        c, sent, ans = b'x' * 2**20, 0, b''
        try:
            while sent < 100 and not select.select([s], [], [], 0)[0]:
                s.sendall(b'%x\r\n' % len(c) + c + b'\r\n'); sent += 1
            ans = s.recv(300)
        except OSError: pass
    assert ans.startswith(b'HTTP/1.1 413') and sent < 20, (sent, ans)  # before: all 100 MB read (up to 64x the limit)
    _ok(url, png)


@pytest.mark.timeout(120)
def test_client_gone_mid_body_is_no_traceback(server, png):
    "Audit of 2026-12-07: each client that left in the middle of its body wrote a traceback to the log (a flood)."
    url, port, tmp = server
    log = tmp/f'serve-{port}.log'; before = log.read_text().count('Traceback')
    for _ in range(20):
        with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
            s.sendall(HEAD + b'Content-Length: 100000\r\n\r\n--XX\r\n' + bytes(1000))
            time.sleep(0.05)
    time.sleep(1); _ok(url, png)
    assert log.read_text().count('Traceback') == before, log.read_text()[-2000:]  # before: 20 tracebacks more


@pytest.mark.timeout(300)
def test_multipart_fields_capped_and_malformed_is_json(server, png):
    "Items 3, 4: 50,000 empty fields (2.4 MB) refused while parsing; each malformed body a JSON 4xx; it goes on."
    url, *_ = server
    post = lambda body: requests.post(f'{url}/api/predict', data=body, timeout=60,
                                      headers={'Content-Type': 'multipart/form-data; boundary=XX'})
    t = time.time(); r = post(b'--XX\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n' * 50_000 + b'--XX--\r\n')
    assert r.status_code == 413 and 'form fields' in r.json()['error'] and time.time() - t < 10, r.text  # before: a 400
    part = lambda head, data=b'abc': b'--XX\r\n' + head + b'\r\n\r\n' + data + b'\r\n--XX--\r\n'
    cd = b'Content-Disposition: form-data; name="file"'
    bad = {'file part without filename': part(cd, png.read_bytes()), 'garbage': b'\x00\xffgarbage' * 100,
           'boundary mismatch': part(cd + b'; filename="a.png"').replace(b'XX', b'YY'),
           'no Content-Disposition': part(b'Content-Type: image/png'),
           'CR/LF in filename': part(cd + b'; filename="a\rb\nc.png"'),
           '5,000-character filename': part(cd + b'; filename="' + b'a' * 5000 + b'.png"')}
    for what, body in bad.items():
        r = post(body)  # before: 500, text/plain 'Internal Server Error' and a traceback in the log
        ok = 400 <= r.status_code < 500 and r.headers['content-type'] == 'application/json'
        assert ok, (what, r.status_code, r.text)
        assert r.json()['error'], what
    _ok(url, png)


@pytest.mark.timeout(120)
def test_no_cross_origin_use(server):
    "Item 5: preflights from another origin (a page on any local port) refused; no CORS header on any answer."
    url, *_ = server
    for path in ('/api/predict', '/gradio_api/call/predict'):
        pre = {'Origin': 'http://localhost:9999', 'Access-Control-Request-Method': 'POST'}
        r = requests.options(url + path, headers=pre, timeout=30)
        assert r.status_code == 403 and NO_CORS(r), (path, r.status_code, r.headers)  # before: 200, allow-origin
    r = requests.post(url + '/gradio_api/call/predict', json={'data': [None, '(none)', True]},
                      headers={'Origin': 'http://localhost:9999'}, timeout=30)
    assert r.status_code == 403, r.text  # before: 200, with access-control-allow-origin
    r = requests.get(url + '/gradio_api/info', headers={'Origin': 'http://localhost:9999'}, timeout=30)
    assert r.status_code == 200 and NO_CORS(r), r.headers


@pytest.mark.timeout(120)
def test_api_options_methods_and_partial_results(server, png):
    "Item 7: `raw` not 1/0 a 400 naming it; a wrong method a 405; good and bad files together a 200, per-file errors."
    url, *_ = server
    for v in ('maybe', '2', '', 'x' * 10_000):
        r = requests.post(f'{url}/api/predict', files={'file': (png.name, png.read_bytes())}, data={'raw': v},
                          timeout=60)
        assert r.status_code == 400 and r.json()['error'].startswith('raw='), (v[:10], r.text[:200])  # before: 200
    for m in ('GET', 'PUT', 'DELETE'):
        r = requests.request(m, f'{url}/api/predict', timeout=30)
        assert r.status_code == 405 and r.headers['allow'] == 'POST', (m, r.status_code)  # before: 404
    files = [('file', (png.name, png.read_bytes())), ('file', ('notes.png', b'notes'))]
    r = requests.post(f'{url}/api/predict', files=files, timeout=60)
    r.raise_for_status()  # before: a 400 with the good result inside
    assert [('error' in o) for o in r.json()['results']] == [False, True], r.text


@pytest.mark.timeout(300)
def test_host_must_name_this_server(server, png):
    "F2: DNS rebinding: a request whose Host (and Origin) is another name is refused; this server's names pass."
    url, port, _ = server
    bad = f'evil.example:{port}'
    r = requests.post(f'{url}/api/predict', files={'file': (png.name, png.read_bytes())}, timeout=30,
                      headers={'Host': bad, 'Origin': f'http://{bad}'})
    assert r.status_code in (400, 403) and 'Host' in r.json()['error'], r.text[:300]  # before: 200, predictions
    r = requests.get(f'{url}/gradio_api/info', headers={'Host': bad}, timeout=30)
    assert r.status_code in (400, 403), r.status_code  # before: 200
    for host in (f'127.0.0.1:{port}', f'localhost:{port}', f'[::1]:{port}', f'xray.example:{port}'):  # --allowed-hosts
        r = requests.get(f'{url}/api/model', headers={'Host': host, 'Origin': f'http://{host}'}, timeout=30)
        assert r.status_code == 200, (host, r.status_code, r.text[:200])


@pytest.mark.timeout(300)
def test_process_temp_files_not_served(server, png):
    "F3: files the process writes to its temporary folder (ONNX Runtime's `.ses`, torch's cache) are never served."
    url, _, tmp = server
    up = requests.post(f'{url}/gradio_api/upload', files={'files': (png.name, png.read_bytes())}, timeout=30)
    up.raise_for_status(); mine = Path(up.json()[0])
    assert requests.get(f'{url}/gradio_api/file={mine}', timeout=30).status_code == 200  # an upload is served
    app = next(d for d in mine.parents if d.name.startswith('xraylib-app-'))  # the app's folder: uploads/ and tmp/
    planted = [app/'.ses', app/'tmp'/'model.ses', app/'tmp'/'torchinductor_root'/'cache.bin']  # where such files go
    for f in planted: f.parent.mkdir(parents=True, exist_ok=True); f.write_bytes(png.read_bytes())
    others = [f for f in (tmp/'tmp').rglob('*') if f.is_file() and app/'uploads' not in f.parents]  # + the real ones
    assert set(planted) <= set(others), others
    served = [str(f) for f in others if requests.get(f'{url}/gradio_api/file={f}', timeout=30).status_code == 200]
    assert not served, served  # before: .../xraylib-app-XXXX/.ses served (200)


@pytest.mark.timeout(300)
def test_declared_length_over_limit_answered_at_once(server):
    "F4: a declared Content-Length over a Gradio route's limit is a 413 at once (JSON routes 1 MB, uploads the app's)."
    _, port, _ = server
    for path, n in (('/gradio_api/call/predict', 2 * 2**20), ('/gradio_api/queue/join', 2 * 2**20),
                    ('/gradio_api/upload', 10**10)):
        head = (f'POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'
                f'Content-Length: {n}\r\n\r\n').encode()
        t = time.time(); first = _first_line(port, head)
        assert first.startswith(b'HTTP/1.1 413') and time.time() - t < 5, (path, first)  # before: 408 after 60 s; none


UPLOAD = b'POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XX\r\n'
PART = b'--XX\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
chunk = lambda b: b'%x\r\n' % len(b) + b + b'\r\n'  # one chunk of a chunked body


def _loose(tmp)->set:
    "Files in Gradio's upload folder itself (finished uploads go to subfolders): uploads arriving, or cut off and left"
    "behind; and the empty file `gr.File` leaves there for each file the page predicts (Gradio's)."
    return {f for up in (tmp/'tmp').glob('xraylib-app-*/uploads') for f in up.iterdir() if f.is_file()}


def _left_behind(tmp, before:set, wait:float=5)->set:
    "The files in Gradio's upload folder itself that are not in `before`, once gone or after `wait` seconds."
    for _ in range(int(wait * 10)):
        if not (new := _loose(tmp) - before): break
        time.sleep(0.1)
    return new


@pytest.mark.timeout(300)
def test_slow_uploads_cut_off(server, png):
    "F5: a Gradio upload still arriving after --body-timeout (length declared, or chunked) is a 408, its partial file"
    "removed, while the JSON API answers; a chunked upload of files each under --max-file-size cut (413) at the limit."
    url, port, tmp = server
    before = _loose(tmp)
    socks = [socket.create_connection(('127.0.0.1', port), timeout=5) for _ in range(2)]
    socks[0].sendall(UPLOAD + b'Content-Length: 100000\r\n\r\n' + PART + png.read_bytes()[:1000])  # 100 kB declared
    socks[1].sendall(UPLOAD + b'Transfer-Encoding: chunked\r\n\r\n' + chunk(PART + png.read_bytes()[:1000]))
    t, ans = time.time(), {}
    try:
        _ok(url, png)  # meanwhile
        while len(ans) < 2 and time.time() - t < TIMEOUT + 5:  # a byte every 0.2 s each: never done in time
            for i, s in enumerate(socks):
                try:
                    if i in ans: continue
                    if select.select([s], [], [], 0.1)[0]: ans[i] = (s.recv(300).split(b'\r\n')[0], time.time() - t)
                    else: s.sendall(b'x' if i == 0 else chunk(b'x'))
                except OSError as e: ans[i] = (type(e).__name__.encode(), time.time() - t)
    finally:
        for s in socks: s.close()
    for i in (0, 1):  # before: no answer within 9 s (the upload waited for its body, for ever)
        assert i in ans and ans[i][0].startswith(b'HTTP/1.1 408') and TIMEOUT - 1 < ans[i][1] < TIMEOUT + 5, ans
    assert not _left_behind(tmp, before)  # before: the partial files stayed (Gradio keeps them when the client goes)
    with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT + 5) as s:  # 40 files of 0.9 MB; limit 3 MB
        s.sendall(UPLOAD + b'Transfer-Encoding: chunked\r\n\r\n')
        sent, first = 0, b''
        try:
            while sent < 40 and not select.select([s], [], [], 0)[0]:
                s.sendall(chunk(PART.replace(b'a.png', b'%d.png' % sent) + bytes(900_000) + b'\r\n')); sent += 1
            first = s.recv(300).split(b'\r\n')[0]
        except OSError: pass
    assert first.startswith(b'HTTP/1.1 413') and sent < 25, (sent, first)  # before: all 40 (36 MB) taken, no answer
    assert not _left_behind(tmp, before)
    _ok(url, png)


def _events(url, event_id, wait:float=15)->str:
    "The event stream of a Gradio call, read until it completes (or errs), at most about `wait` seconds."
    out, t = '', time.time()
    try:
        with requests.get(f'{url}/gradio_api/call/predict/{event_id}', stream=True, timeout=wait) as r:
            for line in r.iter_lines(decode_unicode=True):
                out += (line or '') + '\n'
                if out.count('event: complete') + out.count('event: error') and (line or '').startswith('data:'): break
                if time.time() - t > wait: break
    except requests.exceptions.RequestException as e: out += f'({type(e).__name__})'
    return out


@pytest.mark.timeout(300)
def test_calibrated_not_a_boolean(server, png):
    "F1 (last: before the fix it hung the server): a non-boolean `calibrated` is an error; predictions go on."
    url, *_ = server
    up = requests.post(f'{url}/gradio_api/upload', files={'files': (png.name, png.read_bytes())}, timeout=30)
    up.raise_for_status(); path = up.json()[0]
    for v in ('/etc/passwd', 2, 'no'):
        data = {'data': [[{'path': path, 'meta': {'_type': 'gradio.FileData'}}], '(most probable)', v]}
        r = requests.post(f'{url}/gradio_api/call/predict', json=data, timeout=10); r.raise_for_status()
        ev = _events(url, r.json()['event_id'])
        assert 'event: complete' in ev and 'calibrated' in ev, (v, ev[-500:])  # before: never completed
    r = requests.post(f'{url}/api/predict', files={'file': (png.name, png.read_bytes())}, timeout=20)
    assert r.status_code == 200, r.text  # before: a ReadTimeout (every decoding thread stuck)


@pytest.mark.timeout(300)
def test_login_attempts_limited(model, tmp_path):
    "Item 7: after 10 wrong passwords in a minute from one address, 429s (the page's login and the API)."
    proc, url, log = start_server(model, tmp_path, '--auth', 'ann:s3cret')
    try:
        login = lambda i: requests.post(f'{url}/login', data=dict(username='ann', password=f'guess{i}'), timeout=30)
        codes = [login(i).status_code for i in range(8)]
        codes += [requests.get(f'{url}/api/model', auth=('ann', f'guess{i}'), timeout=30).status_code for i in range(4)]
        right = requests.get(f'{url}/api/model', auth=('ann', 's3cret'), timeout=30).status_code
    finally: rc = stop(proc)
    assert codes[:8] == [400] * 8 and codes[8:] == [401, 401, 429, 429] and right == 429, codes  # before: no 429
    assert rc == 0, log.read_text()[-3000:]


@pytest.mark.timeout(300)
def test_login_limit_not_dodged_by_forwarded_for(model, tmp_path):
    "Audit of 2026-12-07: a new X-Forwarded-For on each guess made each guess count for another address."
    proc, url, log = start_server(model, tmp_path, '--auth', 'ann:s3cret')
    try:
        codes = [requests.get(f'{url}/api/model', auth=('ann', f'guess{i}'), timeout=30,
                              headers={'X-Forwarded-For': f'10.0.{i}.1'}).status_code for i in range(12)]
    finally: rc = stop(proc)
    assert codes == [401] * 10 + [429, 429], codes  # before: 12 x 401 (50 guesses, none refused)
    assert rc == 0, log.read_text()[-3000:]
