"""The documentation site (issue 43): `python -m mkdocs build -f mkdocs.yml` builds it into `_docs/`; served on
127.0.0.1, every local link and image of every page resolves, and Chromium (Playwright, as the other browser tests)
renders the home page, both tutorials with their plots and the `Predictor` API page. Screenshots of the home page and
of a tutorial go to tests/_artifacts/. Needs the docs extra (`pip install -e ".[docs]"`), playwright and Debian's
chromium; skipped with the reason without them (failed in CI: XRAYLIB_REQUIRE_BROWSER=1)."""
import functools, importlib, json, posixpath, re, subprocess, sys, threading, time, urllib.request
from html.parser import HTMLParser
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urljoin, urlparse, unquote
import pytest

from conftest import ART, CHROMIUM, ARGS, REPO, NBS, need_browser

SITE = REPO/'_docs'  # settings.ini's doc_path
TUTORIALS = ['90_tutorial_nih_sample', '91_tutorial_pneumonia']
DOCS_MODULES = {'mkdocs': 'mkdocs', 'material': 'mkdocs-material', 'mkdocs_jupyter': 'mkdocs-jupyter', 'nbdev': 'nbdev'}
# every test here builds the whole site (a minute or more) and one drives Chromium: left out by `pytest -m "not slow"`
pytestmark = [pytest.mark.browser, pytest.mark.slow]
MIN_PLOTS = 5  # plots each tutorial page must show (as tests/test_docs.py asks of its saved outputs)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address): pass  # Chromium drops connections it no longer needs


@pytest.fixture(scope='module')
def site():
    "Build the site into _docs/ with the README's command and serve it on 127.0.0.1: yields (base url, folder)."
    need_browser('the docs site test', DOCS_MODULES)
    t = time.time()
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-f', 'mkdocs.yml', '--clean', '--strict', '-d',
                        str(SITE)], cwd=REPO, capture_output=True, text=True, timeout=1200)  # --strict, as CI builds it
    assert r.returncode == 0, f'the site build failed:\n{r.stderr[-4000:]}'
    print(f'site built in {time.time() - t:.0f} s')
    srv = _Server(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(SITE)))
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/', SITE
    finally: srv.shutdown(); srv.server_close()


class _Refs(HTMLParser):
    "The links (a, link href; img, script, source src) and element ids of one page."
    def __init__(self):
        super().__init__(); self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if a.get('name') and tag == 'a': self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'link', 'img', 'script', 'source', 'iframe'): self.refs.append((tag, a[k]))


def _parse(html:str)->_Refs:
    p = _Refs(); p.feed(html); return p


def _local_refs(site:Path)->list:
    "(page, tag, link) for every local link of every built page (404.html's are absolute: the site's own path)."
    out = []
    for f in sorted(site.rglob('*.html')):
        page = f.relative_to(site).as_posix()
        if page == '404.html': continue
        for tag, ref in _parse(f.read_text(encoding='utf-8', errors='replace')).refs:
            if re.match(r'[a-z][\w+.-]*:|//', ref) or ref.startswith('#') and tag != 'a': continue
            out.append((page, tag, ref))
    return out


def test_site_has_no_broken_local_link_or_image(site):
    "Every local href/src of every page is served (HTTP 200); a link's #anchor is an id of its target page."
    base, folder = site
    refs, seen, ids, bad = _local_refs(folder), {}, {}, []
    assert len(refs) > 500, len(refs)  # the crawl finds the site's links
    for page, tag, ref in refs:
        url = urljoin(base + page, ref)
        path, frag = urlparse(url).path, urlparse(url).fragment
        if path not in seen:
            try:
                req = urllib.request.Request(base.rstrip('/') + path, method='HEAD')
                with urllib.request.urlopen(req, timeout=30) as r: seen[path] = r.status
            except Exception as e: seen[path] = getattr(e, 'code', str(e))
        if seen[path] != 200: bad.append(f'{page}: <{tag}> {ref} -> {seen[path]}'); continue
        if frag and tag == 'a' and path.endswith('.html'):
            if path not in ids: ids[path] = _parse((folder/unquote(path.lstrip('/'))).read_text(encoding='utf-8')).ids
            if unquote(frag) not in ids[path]: bad.append(f'{page}: <a> {ref}: no id #{frag} there')
    assert not bad, f'{len(bad)} broken local links or images in the built site:\n' + '\n'.join(sorted(set(bad))[:60])


def test_site_has_every_page(site):
    "Each notebook, topic page and API stage is a page; the API pages show every public name with its docments."
    _, folder = site
    want = [p.stem + '.html' for p in NBS.glob('*.ipynb')]
    want += [f'topics/{p.stem}.html' for p in (NBS/'topics').glob('*.md')]
    want += ['BENCHMARKS.html', 'benchmarks/HISTORY.html', 'api/index.html']
    assert not [w for w in want if not (folder/w).exists()], [w for w in want if not (folder/w).exists()]
    import xraylib.all
    api = ' '.join(p.read_text(encoding='utf-8') for p in (folder/'api').glob('*.html'))
    missing = [n for n in xraylib.all.__all__ if f'<code>{n}</code>' not in api]
    assert not missing, f'public names without an API entry: {missing}'
    sys.path.insert(0, str(REPO)); from docs_hooks import public_modules
    mods = public_modules()
    assert len(mods) > 30 and 'xraylib.evaluation.shift' in mods, mods
    missing = {}
    for m in mods:  # every public module has its page, with every name of its __all__
        page = folder/'api'/f'{m}.html'
        text = page.read_text(encoding='utf-8') if page.exists() else ''
        if miss := [n for n in importlib.import_module(m).__all__ if f'<code>{n}</code>' not in text]: missing[m] = miss
    assert not missing, f'module API pages missing or without these names: {missing}'
    for n in ['shift_check', 'make_reference', 'shared_data', 'write_shift_report', 'xray_app', 'write_space',
              'read_sources']:  # names the docs use
        assert f'<code>{n}</code>' in api, n


def _image_outputs(name:str)->int:
    nb = json.loads((NBS/f'{name}.ipynb').read_text(encoding='utf-8'))
    return sum(1 for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])
               if any(m.startswith('image/') for m in o.get('data', {})))


IMAGES = """() => [...document.images].map(i => ({
    src: i.src, ok: i.complete && i.naturalWidth > 0,
    output: !!i.closest('.jp-OutputArea, .output_area, .jp-RenderedImage')}))"""


@pytest.mark.timeout(1500)
def test_site_renders_in_chromium(site):
    "Home, both tutorials (each saved plot shown) and the Predictor API page render in Chromium; screenshots."
    need_browser('the docs site test', {'playwright': 'playwright'})
    from playwright.sync_api import sync_playwright
    base, _ = site
    ART.mkdir(exist_ok=True)
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.set_default_timeout(60_000)
            for name in ['index', *TUTORIALS, 'api/inference']:
                page.goto(base + name + '.html', wait_until='load')
                page.wait_for_function('() => [...document.images].every(i => i.complete)')
                seen[name] = dict(title=page.title(), h1=page.locator('article h1, .jp-Notebook h1').first.inner_text(),
                                  images=page.evaluate(IMAGES), text=page.locator('article').inner_text())
                if name == 'index': page.screenshot(path=str(ART/'site_home.png'))
                if name == TUTORIALS[0]:
                    plots = page.locator('.jp-OutputArea img, .output_area img')
                    if plots.count(): plots.first.scroll_into_view_if_needed()
                    page.screenshot(path=str(ART/'site_tutorial.png'))
        finally: browser.close()
    for name, s in seen.items():
        broken = [i['src'][:100] for i in s['images'] if not i['ok'] and (i['src'].startswith((base, 'data:')))]
        assert not broken, f'{name}.html: local images that did not load: {broken}'
        assert 'xraylib' in s['title'], (name, s['title'])
    assert 'xraylib' in seen['index']['h1'] and 'from xraylib' in seen['index']['text']
    for name in TUTORIALS:
        shown = sum(i['output'] for i in seen[name]['images'])
        saved = _image_outputs(name)
        assert shown >= max(saved, MIN_PLOTS), (f'{name}: {shown} plots shown, {saved} saved in the notebook '
                                                f'(at least {MIN_PLOTS} expected)')
    api = seen['api/inference']['text']
    for s in ['Predictor', 'Predictor.predict', 'Predictor.from_file', 'a path, bytes, a PIL image or an array']:
        assert s in api, f'the Predictor API page lacks {s!r}'
