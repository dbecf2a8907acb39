"""mkdocs hooks for xraylib's documentation site (mkdocs.yml: `hooks: [docs_hooks.py]`).

The site is `nbs/`: the notebooks with their saved outputs (mkdocs-jupyter, never executed here), the topic pages
`nbs/topics/*.md` and `nbs/images/`. These hooks add what is not there:
- the navigation, from the files (a new notebook or topic page appears without editing mkdocs.yml);
- BENCHMARKS.md and benchmarks/HISTORY.md, as pages;
- the API reference: one page per stage, every public name of `xraylib.all` with its signature and docments, as
  nbdev's `show_doc` writes them (for a class, its public methods too), and one page per module, every name of its
  `__all__`;
- links to files that are not in the site (tests/, .ci/, scripts) point at them on GitHub.
"""
import configparser, html, importlib, inspect, os, posixpath, re
from pathlib import Path
from urllib.parse import unquote
from mkdocs.structure.files import File, InclusionLevel

REPO = Path(__file__).resolve().parent
NBS = REPO/'nbs'
_cfg = configparser.ConfigParser(); _cfg.read(REPO/'settings.ini')
GIT = _cfg['DEFAULT']['git_url'] + '/blob/' + _cfg['DEFAULT'].get('branch', 'main')
GENERATED = {'BENCHMARKS.md': 'BENCHMARKS.md', 'benchmarks/HISTORY.md': 'benchmarks/HISTORY.md'}  # repo path: site path
TUTORIALS = ['90_tutorial_nih_sample.ipynb', '91_tutorial_pneumonia.ipynb']
# the API pages: stage (the first part of a module's name below xraylib) -> page title
STAGES = {'core': 'Foundations', 'vocab': 'Foundations', 'stats': 'Foundations', 'progress': 'Foundations',
          'imaging': 'Imaging', 'data': 'Data', 'datasets': 'Datasets', 'inference': 'Inference',
          'evaluation': 'Evaluation', 'training': 'Training', 'serving': 'Serving'}
TOPIC_ORDER = ['install', 'commands', 'your-own-data', 'external-validation', 'operating-points', 'several-datasets',
               'web-app', 'localization', 'full-chestx-ray14', 'real-images-splits', 'reliability', 'layout',
               'developers']


def _title(md:str, default:str)->str:
    m = re.search(r'^#\s+(.+)$', md, re.M)
    return m[1].strip().replace('`', '') if m else default


def _show(obj, name:str)->str:
    "nbdev's Markdown doc of `obj` (signature with docments, docstring), with a working source link."
    from nbdev.showdoc import show_doc, BasicMarkdownRenderer
    md = show_doc(obj, name=name, renderer=BasicMarkdownRenderer)._repr_markdown_()
    try: line = inspect.getsourcelines(inspect.unwrap(obj))[1]
    except (TypeError, OSError): line = None
    md = md.replace('#LNone', f'#L{line}' if line else '')
    return md.replace('{target="_blank" style="float:right; font-size:smaller"}', '{: .src-link target="_blank" }')


def _entry(name:str, obj, mod:str, how:str)->str:
    "One name's API entry: heading, import line, signature with docments and docstring (a class: its methods too)."
    out = [f'## `{name}`\n', f'`from {mod} import {name}`{how}\n']
    if callable(obj):
        out.append(_show(obj, name))
        if inspect.isclass(obj):
            for m in vars(obj):  # its own methods (fastcore's @patch puts them there), class methods too
                f = getattr(obj, m); f = getattr(f, '__func__', f)
                if not m.startswith('_') and callable(f) and getattr(f, '__doc__', None):
                    out.append(_show(f, f'{name}.{m}'))
    else:
        r = repr(obj)
        out.append(f'```python\n{name} = {r[:600] + " ..." if len(r) > 600 else r}\n```\n')
    return '\n'.join(out)


def _quiet_import(name:str):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return importlib.import_module(name)


def _defining_module(allmod, name:str, obj)->str:
    mod = getattr(obj, '__module__', None) if callable(obj) else None
    if mod is None or not mod.startswith('xraylib.'):  # a constant: find the module that defines the name
        mod = 'xraylib.' + re.search(rf'^from \.([\w.]+) import .*\b{name}\b', inspect.getsource(allmod), re.M)[1]
    return mod


def _api_pages()->dict:
    "{stage title: Markdown} for every name in `xraylib.all.__all__`, grouped by the stage of its defining module."
    allmod, pages = _quiet_import('xraylib.all'), {}
    for name in allmod.__all__:
        obj = getattr(allmod, name)
        mod = _defining_module(allmod, name, obj)
        entry = _entry(name, obj, mod, ' (or `from xraylib.all import *`)')
        pages.setdefault(STAGES[mod.split('.')[1]], []).append(entry)
    return {t: f'# API: {t.lower()}\n\n' + '\n\n'.join(v) for t, v in pages.items()}


def public_modules()->list:
    "Every xraylib module with public names (its `__all__`), but `xraylib.all`, which gathers the main ones."
    import pkgutil, xraylib
    mods = sorted(m.name for m in pkgutil.walk_packages(xraylib.__path__, 'xraylib.'))
    return [m for m in mods if m != 'xraylib.all' and getattr(_quiet_import(m), '__all__', None)]


def _module_page(name:str)->str:
    "The API page of one module: its summary, then every name of its `__all__`."
    mod = _quiet_import(name)
    doc = (mod.__doc__ or '').strip().split('\n\n')[0]
    nb = next((p.name for p in NBS.glob('*.ipynb') if p.stem.partition('_')[2] == name.split('.', 1)[1]), None)
    head = [f'# `{name}`', '', doc, ''] + ([f'Its notebook, with examples: [{nb[:-6]}](../{nb}).', ''] if nb else [])
    head += ['Names: ' + ', '.join(f'`{n}`' for n in mod.__all__), '']
    return '\n'.join(head) + '\n' + '\n\n'.join(
        _entry(n, getattr(mod, n), name, '' if getattr(getattr(mod, n), '__module__', name) in (name, None)
               or not callable(getattr(mod, n)) else f' (defined in `{getattr(mod, n).__module__}`)')
        for n in mod.__all__)


def _gen(config, uri:str, content:str, abs_src:str=None)->File:
    return File.generated(config, uri, content=content, inclusion=InclusionLevel.INCLUDED) if abs_src is None else \
        File.generated(config, uri, abs_src_path=abs_src, inclusion=InclusionLevel.INCLUDED)


def on_files(files, config):
    for src, uri in GENERATED.items(): files.append(_gen(config, uri, None, str(REPO/src)))
    api = _api_pages()
    index = ['# API reference', '', 'The public names (`from xraylib.all import *`) by stage, each with its signature, '
             'the comment on each parameter (docments) and its docstring. Each stage may import only the ones before '
             'it.',
             '']
    for t, md in api.items():
        slug = t.lower()
        files.append(_gen(config, f'api/{slug}.md', md))
        names = re.findall(r'^## `(\w+)`', md, re.M)
        index.append(f'- [{t}]({slug}.md): ' + ', '.join(f'`{n}`' for n in names))
    index += ['', '## Every module', '', "Each module's page has every name of its `__all__` (the main ones are also "
              'above, by stage), with its signature, docments and docstring.', '']
    for m in public_modules():
        md = _module_page(m)
        files.append(_gen(config, f'api/{m}.md', md))
        index.append(f'- [`{m}`]({m}.md): ' + ', '.join(f'`{n}`' for n in _quiet_import(m).__all__))
    files.append(_gen(config, 'api/index.md', '\n'.join(index) + '\n'))
    config['_api_titles'] = list(api)
    return files


def on_config(config):
    "The navigation, from the files in nbs/ (so new notebooks and topic pages need no edit here)."
    nbs = sorted(p.name for p in NBS.glob('*.ipynb') if p.name != 'index.ipynb' and p.name not in TUTORIALS)
    topics = sorted((NBS/'topics').glob('*.md'),
                    key=lambda p: (TOPIC_ORDER.index(p.stem) if p.stem in TOPIC_ORDER else len(TOPIC_ORDER), p.stem))
    stage_of = lambda n: (n.split('_', 1)[1].split('.')[0] if '.' in n[:-6] else n.split('_', 1)[1][:-6])
    groups = {}
    for n in nbs: groups.setdefault(STAGES.get(stage_of(n), 'Command line and more'), []).append(
        {n.split('_', 1)[1][:-6]: n})
    config['nav'] = [
        {'Home': 'index.ipynb'},
        {'Tutorials': [{'NIH sample: the whole study': TUTORIALS[0]}, {'Pneumonia (Kermany)': TUTORIALS[1]}]},
        {'Topics': [{_title(p.read_text(encoding='utf-8'), p.stem): f'topics/{p.name}'} for p in topics]},
        {'Benchmarks': [{'Benchmarks': 'BENCHMARKS.md'}, {'History': 'benchmarks/HISTORY.md'}]},
        {'API reference': ['api/index.md'] + [{t: f'api/{t.lower()}.md'} for t in dict.fromkeys(STAGES.values())]
                          + [{'Modules': [{m[len('xraylib.'):]: f'api/{m}.md'} for m in public_modules()]}]},
        {'Notebooks': [{g: v} for g, v in groups.items()]},
    ]
    return config


_HEAD = re.compile(r'<h([1-6])([^>]*)>(.*?)</h\1>', re.S)


def _norm(t:str)->str: return re.sub(r'[^a-z0-9]+', '', re.sub(r'<[^>]+>|&[a-z]+;|¶', '', html.unescape(t)).lower())


def _toc_ids(page_html:str, toc)->str:
    "Each table-of-contents entry's id on its heading: mkdocs-jupyter's TOC slugs differ from nbconvert's heading ids."
    items, stack = [], list(toc)[::-1]
    while stack:
        it = stack.pop(); items.append(it); stack += list(it.children)[::-1]
    have = set(re.findall(r'\sid="([^"]+)"', page_html))
    heads = list(_HEAD.finditer(page_html))
    want, at = {}, 0  # heading index -> ids to add; the TOC lists the headings in order
    for it in items:
        if it.id in have:
            at = next((i + 1 for i, h in enumerate(heads) if f'id="{it.id}"' in h[0]), at); continue
        t = _norm(it.title)  # the TOC's title lacks the heading's code spans
        i = next((i for i in range(at, len(heads))
                  if t in _norm(heads[i][3]) or t == _norm(re.sub(r'<code>.*?</code>', '', heads[i][3]))), None)
        if i is not None: want.setdefault(i, []).append(it.id); at = i + 1
    for i in sorted(want, reverse=True):
        h = heads[i]; anchors = ''.join(f'<a id="{x}"></a>' for x in want[i])
        page_html = page_html[:h.start(3)] + anchors + page_html[h.start(3):]
    return page_html


_MDLINK = re.compile(r'(\]\()([^)\s#]+)(#[^)\s]*)?(\))')


def on_page_markdown(markdown, page, config, files):
    """Links written for GitHub (relative to the file in the repository) to a page of the site, made relative to the
    page's place in the site before mkdocs checks them: `../../BENCHMARKS.md` in a topic page, `nbs/topics/x.md` in
    BENCHMARKS.md. Other links are left as they are (`on_page_content` points files outside the site at GitHub)."""
    inv = {v: k for k, v in GENERATED.items()}
    src = REPO/inv[page.file.src_uri] if page.file.src_uri in inv else NBS/page.file.src_uri
    here, by_src = posixpath.dirname(page.file.src_uri), {f.src_uri: f for f in files}
    def fix(m):
        path = unquote(m[2])
        if re.match(r'[a-z][\w+.-]*:|/', path) or posixpath.normpath(posixpath.join(here, path)) in by_src: return m[0]
        target = Path(os.path.normpath(src.parent/path))
        if not target.is_relative_to(REPO): return m[0]
        rel = target.relative_to(REPO).as_posix()
        uri = target.relative_to(NBS).as_posix() if target.is_relative_to(NBS) else GENERATED.get(rel)
        if uri is None or uri not in by_src: return m[0]
        return f'{m[1]}{posixpath.relpath(uri, here or ".")}{m[3] or ""}{m[4]}'
    return _MDLINK.sub(fix, markdown)


_ATTR = re.compile(r'''(\s(?:href|src)=)(["'])([^"'#][^"']*?)?(#[^"']*)?\2''')


def on_page_content(page_html, page, config, files):
    "Links to files outside the site: a generated page's site url, or the file on GitHub."
    inv = {v: k for k, v in GENERATED.items()}
    src = REPO/inv[page.file.src_uri] if page.file.src_uri in inv else NBS/page.file.src_uri
    here = posixpath.dirname(page.file.url)
    urls = {f.url for f in files} | {f.dest_uri for f in files}
    by_src = {f.src_uri: f for f in files}
    def fix(m):
        pre, q, path, frag = m[1], m[2], m[3], m[4] or ''
        if not path or re.match(r'[a-z][\w+.-]*:|/', path): return m[0]
        if posixpath.normpath(posixpath.join(here, unquote(path))) in urls: return m[0]
        target = Path(os.path.normpath(src.parent/unquote(path)))
        rel = target.relative_to(REPO).as_posix() if target.is_relative_to(REPO) else None
        in_nbs = target.is_relative_to(NBS)
        f = by_src.get(target.relative_to(NBS).as_posix()) if in_nbs else by_src.get(GENERATED.get(rel))
        if f is not None and f.inclusion.is_included():
            return f'{pre}{q}{posixpath.relpath(f.url, here or ".")}{frag}{q}'
        if rel is not None and target.exists(): return f'{pre}{q}{GIT}/{rel}{frag}{q}'
        return m[0]
    out = _ATTR.sub(fix, page_html)
    return _toc_ids(out, page.toc) if page.file.src_uri.endswith('.ipynb') else out
