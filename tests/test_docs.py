"""The docs agree with the code (issue 36): every notebook with an "Open in Colab" badge starts with the one guarded
install cell and needs nothing beyond the install; no line installs PyPI's unrelated `xraylib`. Static checks on the
files, no notebook or model is run (seconds)."""
import json, re, sys
from pathlib import Path
import pytest
try: from conftest import REPO
except ImportError: sys.path.insert(0, str(Path(__file__).parent)); from conftest import REPO

NBS = REPO/'nbs'
TOPICS = sorted((NBS/'topics').glob('*.md'))  # the docs site's topic pages: what left the README (issue 43)
# The one install cell (same text in every notebook with a Colab badge): on Colab it installs this package from
# the repository (distribution `xraylib-cxr`, import name `xraylib`); in CI and locally it does nothing.
INSTALL = ("import sys\n"
           "if 'google.colab' in sys.modules:  # on Colab only (a no-op elsewhere): this package, distribution name xraylib-cxr\n"
           "    !pip install -q \"xraylib-cxr[fast] @ git+https://github.com/xraylib/xraylib@main\"")
BADGE = re.compile(r'\(https://colab\.research\.google\.com/github/xraylib/xraylib/blob/main/nbs/([\w.-]+\.ipynb)\)')
# modules a Colab runtime lacks after the install cell: the dev and app extras, and tests/' helpers
DEV_ONLY = {'nbdev', 'execnb', 'fakes', 'conftest', 'gradio', 'playwright', 'pytest', 'nbformat', 'accelerate'}


def _cells(nb:Path)->list: return json.loads(nb.read_text(encoding='utf-8'))['cells']
def _src(c)->str: return ''.join(c['source'])
def _badged()->list:
    "Notebooks whose own Colab badge is in a markdown cell."
    return [nb for nb in sorted(NBS.glob('*.ipynb'))
            if any(nb.name in BADGE.findall(_src(c)) for c in _cells(nb) if c['cell_type'] == 'markdown')]


def test_some_notebooks_have_badges():
    names = {nb.stem for nb in _badged()}
    assert {'90_tutorial_nih_sample', '91_tutorial_pneumonia', '02_stats'} <= names, names


@pytest.mark.parametrize('nb', _badged(), ids=lambda p: p.stem)
def test_badged_notebook_starts_with_the_install_cell(nb):
    "The first code cell (after `#| default_exp`) is INSTALL, character for character, so no `import xraylib` comes before it."
    code = [_src(c) for c in _cells(nb) if c['cell_type'] == 'code' and not re.fullmatch(r'#\|\s*default_exp\s+\S+\s*', _src(c))]
    assert code and code[0] == INSTALL, (f'{nb.name} has a Colab badge, so its first code cell must be the install cell '
                                         f'(tests/test_docs.py INSTALL; or remove the badge):\n{INSTALL}\n-- found --\n{code[:1]}')
    assert sum(s == INSTALL for s in code) == 1, f'{nb.name}: the install cell appears more than once'


@pytest.mark.parametrize('nb', _badged(), ids=lambda p: p.stem)
def test_badged_notebook_needs_only_the_install(nb):
    "A Colab runtime has the package and its `fast` extra after the install cell, not nbdev, gradio or tests/' helpers."
    used = {m.split('.')[0] for c in _cells(nb) if c['cell_type'] == 'code'
            for m in re.findall(r'^\s*(?:from|import)\s+([\w.]+)', _src(c), re.M)}
    assert not used & DEV_ONLY, f'{nb.name} has a Colab badge but imports {sorted(used & DEV_ONLY)}: remove the badge or the import'


def test_readme_offers_the_install_cells_package():
    pkg = re.search(r'pip install -q (".*?")', INSTALL)[1]
    assert f'pip install {pkg}' in (REPO/'README.md').read_text(encoding='utf-8')


PYPI_XRAYLIB = re.compile(r'pip install\s+(?:-\S+\s+)*["\']?xraylib(?:\[[\w,]+\])?(?=["\'\s@;`)]|$)|'
                          r'["\']xraylib(?:\[[\w,]+\])?\s*@\s*git\+|^xraylib(?:\[[\w,]+\])?\s*(?:[<>=@]|$)', re.M)


def _texts():
    for p in [REPO/'README.md', REPO/'settings.ini', *NBS.glob('*.ipynb'), *(REPO/'.ci').iterdir(), *(REPO/'xraylib').glob('*.py'),
              *(REPO/'tests').rglob('*.py'), *TOPICS]:
        if p.is_file() and p.name != 'test_docs.py': yield p, p.read_text(encoding='utf-8', errors='replace')


def test_no_line_installs_pypi_xraylib():
    "`xraylib` on PyPI is another project (X-ray-matter interaction data): only `xraylib-cxr` or the git URL install this one."
    bad = []
    for p, text in _texts():
        for line in text.replace('\\"', '"').splitlines():
            if PYPI_XRAYLIB.search(line.strip().strip('",')) and 'different project' not in line and 'uninstall' not in line:
                bad.append(f'{p.relative_to(REPO)}: {line.strip()[:160]}')
            if re.search(r'pip install[^`]*xraylib-cxr', line) and 'git+' not in line:  # not on PyPI: the git URL or a checkout
                bad.append(f'{p.relative_to(REPO)}: {line.strip()[:160]}')
    assert not bad, 'lines that would install PyPI\'s xraylib, or xraylib-cxr from PyPI (it is not there):\n' + '\n'.join(bad)


def test_the_pypi_check_catches_each_form():
    for line in ['pip install xraylib', 'pip install "xraylib[app]"', '!pip install -q "xraylib[fast] @ git+https://x"',
                 "requirement:str='xraylib[app] @ git+https://github.com/x'", 'xraylib[app]']:
        assert PYPI_XRAYLIB.search(line), line
    for line in ['pip install "xraylib-cxr[app] @ git+https://x"', 'pip install -e ".[dev]"', 'xraylib train', 'import xraylib']:
        assert not PYPI_XRAYLIB.search(line), line


# --- README.md, BENCHMARKS.md and the CLI ---------------------------------------------------------------------------
README, BENCH = REPO/'README.md', REPO/'BENCHMARKS.md'
def _md(p:Path)->str: return p.read_text(encoding='utf-8')


def _commands(md:str)->list:
    "Every `xraylib CMD ...` in `md`: (full, text) where full means a code-block line (all its positionals are there)."
    out, block = [], False
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('```'): block = not block; continue
        if block and re.match(r'\s*xraylib\s+[a-z]', line):
            while line.rstrip().endswith('\\') and i + 1 < len(lines): i += 1; line = line.rstrip()[:-1] + ' ' + lines[i]
            out.append((True, re.sub(r'\s+#.*$', '', line).strip()))
        elif not block:
            out += [(False, m.replace('\\|', '|')) for m in re.findall(r'`(xraylib\s+[a-z][^`]*)`', line)]
    return out


def _parsers()->dict:
    "The CLI's own argparse parser for each command, as `xraylib CMD` builds it."
    import importlib
    from xraylib.cli import COMMANDS, cli_parser
    def fn(target):
        mod, name = target.split(':'); f = getattr(importlib.import_module(mod), name)
        return getattr(f, '__wrapped__', f)
    return {cmd: cli_parser(fn(target), prog=f'xraylib {cmd}') for cmd, (target, _) in COMMANDS.items()}


def _check_command(parsers:dict, full:bool, text:str)->str:
    "'' when `text` parses (its command and every option exist; a full line parses whole), else why not."
    import shlex
    try: args = shlex.split(text)[1:]
    except ValueError as e: return f'{text}: {e}'
    if not args or args[0] not in parsers: return f'{text}: no command {args[:1]}'
    p = parsers[args[0]]
    known = {o for a in p._actions for o in a.option_strings}
    opts = [a.split('=')[0] for a in args[1:] if a.startswith('--')]
    if bad := [o for o in opts if o not in known]:  # the docs spell options with dashes, as `--help` prints them
        return f'{text}: no option {bad} in `xraylib {args[0]}`' + (' (write it with dashes)' if '_' in ''.join(bad) else '')
    if full:
        try: p.parse_args(args[1:])
        except SystemExit: return f'{text}: `xraylib {args[0]}` does not parse it'
    return ''


@pytest.fixture(scope='module')
def parsers(): return _parsers()


DOCS = [README, *TOPICS]  # the user's docs: README.md and the topic pages


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_doc_commands_parse(parsers, doc):
    "Every `xraylib ...` in README.md and the topic pages names a command and options that exist; code-block lines parse whole."
    bad = [why for full, c in _commands(_md(doc)) if (why := _check_command(parsers, full, c))]
    assert not bad, f'{doc.name}: commands the CLI does not accept:\n' + '\n'.join(bad)


def test_the_docs_show_commands():
    "The extraction finds the commands (so the check above has something to check), the README's among them."
    cmds = [c for d in DOCS for c in _commands(_md(d))]
    assert sum(full for full, _ in cmds) >= 15 and len(cmds) >= 60, len(cmds)
    readme = _commands(_md(README))
    assert any(full and c == 'xraylib train' for full, c in readme) and len(readme) >= 10, readme


def test_the_command_check_catches_a_wrong_option(parsers):
    assert _check_command(parsers, False, 'xraylib train --data D --no-download') == ''
    assert 'no option' in _check_command(parsers, False, 'xraylib train --epochz 3')
    assert 'with dashes' in _check_command(parsers, False, 'xraylib train --n_boot 3')  # it works, but docs print dashes
    assert 'no command' in _check_command(parsers, False, 'xraylib trian')
    assert 'does not parse' in _check_command(parsers, True, 'xraylib predict --json')  # the model argument is missing


def _slug(heading:str)->str:
    "GitHub's anchor for a Markdown heading."
    h = re.sub(r'[`*_]|\[([^\]]*)\]\([^)]*\)', lambda m: m[1] or '', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', h).replace(' ', '-')


def _anchors(md:str)->set:
    return {_slug(m) for m in re.findall(r'^#+\s+(.*)$', re.sub(r'```.*?```', '', md, flags=re.S), re.M)}


@pytest.mark.parametrize('doc', ['README.md', 'BENCHMARKS.md', 'benchmarks/HISTORY.md',
                                 *[p.relative_to(REPO).as_posix() for p in TOPICS]])
def test_internal_links_resolve(doc):
    "Every relative link (and image) of the doc points at a file that exists, and every #anchor at a heading there."
    src = REPO/doc
    bad = []
    for target in re.findall(r'\]\(([^)\s]+)\)', re.sub(r'```.*?```', '', _md(src), flags=re.S)):
        if re.match(r'[a-z]+:', target): continue
        path, _, anchor = target.partition('#')
        f = (src.parent/path).resolve() if path else src
        if not f.exists(): bad.append(f'{target}: no file {f}'); continue
        if anchor and f.suffix == '.md' and anchor not in _anchors(_md(f)): bad.append(f'{target}: no heading #{anchor} in {f.name}')
    assert not bad, f'{doc}: broken links:\n' + '\n'.join(bad)


def test_the_anchor_check_knows_githubs_slugs():
    assert _slug('## `xraylib serve` under load'.lstrip('# ')) == 'xraylib-serve-under-load'
    assert _slug('Your own data: any layout, any labels') == 'your-own-data-any-layout-any-labels'
    assert _slug('(g), (h) Evaluation and comparison') == 'g-h-evaluation-and-comparison'


NUM = re.compile(r'(?<![\w.])\d[\d,]*(?:\.\d+)?')


def _bench_numbers(md:str)->set: return {n.replace(',', '') for n in NUM.findall(md)}


def test_doc_benchmark_figures_are_in_benchmarks():
    "Each number in a README or topic-page sentence that cites BENCHMARKS.md is one of BENCHMARKS.md's current figures."
    bench = _bench_numbers(_md(BENCH))
    sentences = []
    for doc in DOCS:
        text = re.sub(r'```.*?```|`[^`]*`|\]\([^)]*\)', '', _md(doc), flags=re.S)
        sentences += [(doc.name, s) for s in re.split(r'(?<=[.;:])\s+(?=[A-Z(*-])|\n\s*\n|\n- ', text) if 'BENCHMARKS' in s]
    assert len(sentences) >= 3 and any(d == 'README.md' for d, _ in sentences), sentences
    bad = [f'{d}: {n} in: {" ".join(s.split())[:200]}' for d, s in sentences for n in NUM.findall(s)
           if n.replace(',', '') not in bench and not re.fullmatch(r'20\d\d', n)]
    assert not bad, 'figures cited from BENCHMARKS.md that BENCHMARKS.md does not show:\n' + '\n'.join(bad)


def test_benchmarks_is_one_current_table_per_benchmark():
    "Issue 32: at most 200 lines, each benchmark's table has its date and command; the log is benchmarks/HISTORY.md."
    md = _md(BENCH)
    assert len(md.splitlines()) <= 200, f'BENCHMARKS.md has {len(md.splitlines())} lines: move older runs to benchmarks/HISTORY.md'
    heads = [l for l in md.splitlines() if l.startswith('| ') and l.endswith('|') and '---' not in l and 'date' in l.lower()]
    assert len(heads) >= 8 and all('command' in h.lower() or 'run' in h.lower() for h in heads), heads


def test_layout_table_names_every_notebook():
    "The layout page's table has one row per notebook in nbs/ (besides index), and no row for a missing one."
    md = _md(NBS/'topics'/'layout.md')
    rows = set(re.findall(r'^\| `([\w.]+)` \|', md, re.M))
    nbs = {p.stem for p in NBS.glob('*.ipynb') if p.stem != 'index'}
    assert rows == nbs, f'missing from the layout table: {sorted(nbs - rows)}; rows without a notebook: {sorted(rows - nbs)}'


def test_readme_is_not_generated_from_index():
    "README.md is written by hand; settings.ini must not name a readme_nb that nbdev_readme would render over it."
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(REPO/'settings.ini')
    assert 'readme_nb' not in cfg['DEFAULT'], 'settings.ini names readme_nb: README.md would be overwritten by nbdev_readme'


# --- issue 43: a README a newcomer reads top to bottom; the rest in the docs site; notebooks that show outputs ---------
def test_readme_is_short_and_complete():
    "At most ~150 lines of at most 120 characters, with the install, the main job, the Python example, tests and links."
    md = _md(README)
    lines = md.splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines: move the detail to a topic page in nbs/topics/'
    long = [l for l in lines if len(l) > 120]
    assert not long, long
    for s in ['pip install -e ".[dev]"', 'pytest tests', 'xraylib train\n', 'xraylib-cxr', 'pip install xraylib',
              'python -m mkdocs build -f mkdocs.yml', 'https://xraylib.github.io/xraylib/',
              'nbs/90_tutorial_nih_sample.ipynb', 'nbs/91_tutorial_pneumonia.ipynb']:
        assert s in md, f'README.md lacks {s!r}'
    code = re.search(r'```python\n(.*?)```', md, re.S)[1]
    assert code.startswith('from xraylib.all import *') and len(code.splitlines()) <= 9, code
    assert all(w in code for w in ('train(', 'Predictor', '.predict(', 'auroc_table(')), code


def test_readme_python_uses_public_names():
    "The README's Python example uses only names `from xraylib.all import *` gives (it is run by hand: see the report)."
    import xraylib.all as a
    code = re.search(r'```python\n(.*?)```', _md(README), re.S)[1]
    called = set(re.findall(r'(?<![.\w])([A-Za-z_]\w*)\(', code)) - {'sorted', 'print'}
    assert called <= set(a.__all__), called - set(a.__all__)


TUTORIALS = [NBS/'90_tutorial_nih_sample.ipynb', NBS/'91_tutorial_pneumonia.ipynb']


def _image_outputs(nb:Path)->int:
    return sum(1 for c in _cells(nb) if c['cell_type'] == 'code' for o in c.get('outputs', [])
               if any(m.startswith('image/') for m in o.get('data', {})))


@pytest.mark.parametrize('nb', TUTORIALS, ids=lambda p: p.stem)
def test_tutorials_keep_their_plots(nb):
    """A tutorial is committed with at least five plots in its saved outputs, so GitHub, Colab and the docs site show
    them unrun. Fails when the outputs were cleared: rerun `python tests/scripts/run_notebooks.py NOTEBOOK`."""
    n = _image_outputs(nb)
    assert n >= 5, (f'{nb.name} keeps {n} image outputs (at least 5 expected): run '
                    f'`python tests/scripts/run_notebooks.py nbs/{nb.name}` and commit the outputs')


# --- issue 43 audit: the narrative shows the public API; asserts on private helpers sit under a "Tests" heading -----
ASSERTS = re.compile(r'\b(?:test_\w+|assert)\b')  # fastcore.test's test_eq, test_fail, test_close ... and assert
EXPORT = re.compile(r'^\s*#\|\s*export', re.M)
TESTS_HEAD = re.compile(r'#+\s*Tests\s*$')
# being edited: issue 44/41 work (these notebooks still assert on private helpers in their narrative)
PRIVATE_ASSERT_EXCEPTIONS = set()  # none left


def _bound(code:str)->set:
    "Top-level names a cell binds (def, class, assignment targets, imports)."
    import ast
    try: tree = ast.parse(re.sub(r'^\s*[!%].*$', '', code, flags=re.M))
    except SyntaxError: return set()
    out = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.add(n.name)
        elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            tgts = n.targets if isinstance(n, ast.Assign) else [getattr(n, 'target', None)] + \
                [i.optional_vars for i in getattr(n, 'items', [])]
            out |= {x.id for t in tgts if t is not None for x in ast.walk(t) if isinstance(x, ast.Name)}
        elif isinstance(n, (ast.Import, ast.ImportFrom)): out |= {(a.asname or a.name).split('.')[0] for a in n.names}
    return out


def _xraylib_private(cells:list)->set:
    "Private names this notebook takes from xraylib: defined in its exported cells, or imported from an xraylib module."
    names = set()
    for c in cells:
        if c['cell_type'] != 'code': continue
        s = _src(c)
        if EXPORT.search(s): names |= {n for n in _bound(s) if n.startswith('_')}
        else:
            for m in re.finditer(r'^\s*from\s+xraylib[\w.]*\s+import\s+\(?([^)#\n]+(?:\n[^)#]+)*)', s, re.M):
                names |= {x.split(' as ')[-1].strip() for x in m[1].replace('\\', '').split(',')} - {''}
    return {n for n in names if n.startswith('_') and not n.startswith('__')}


def private_asserts(nb:Path)->list:
    "(cell index, cell id, names) of each code cell before the notebook's Tests heading that asserts on a private xraylib name."
    cells = _cells(nb)
    lib = _xraylib_private(cells)
    end = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and TESTS_HEAD.fullmatch(_src(c).strip().split('\n')[0])),
               len(cells))
    out, local = [], set()  # names a (non-exported) cell bound as its own variable, before this one
    for i, c in enumerate(cells[:end]):
        s = _src(c)
        if c['cell_type'] != 'code' or EXPORT.search(s): continue
        mine = _bound(s)
        if ASSERTS.search(s):
            used = {n for n in re.findall(r'(?<![\w.])(_[A-Za-z]\w*)', s) if n in lib and n not in mine | local}
            if used: out.append((i, c.get('id'), sorted(used)))
        local |= mine - lib
    return out


def test_narrative_does_not_assert_on_private_helpers():
    """Asserts on `_private` xraylib helpers go under a `## Tests` heading at the end of the notebook (or in tests/),
    so the narrative shows the public API; the three notebooks being edited elsewhere are known exceptions."""
    found = {nb.stem: private_asserts(nb) for nb in sorted(NBS.glob('*.ipynb'))}
    bad = {k: v for k, v in found.items() if v and k not in PRIVATE_ASSERT_EXCEPTIONS}
    assert not bad, ('code cells before the "## Tests" heading that assert on private xraylib names (move them below '
                     'it):\n' + '\n'.join(f'{k}: cells {v}' for k, v in bad.items()))
    stale = sorted(k for k in PRIVATE_ASSERT_EXCEPTIONS if not found.get(k))
    assert not stale, f'no longer an exception (remove from PRIVATE_ASSERT_EXCEPTIONS): {stale}'


def test_the_private_assert_check_finds_one():
    cells = [{'cell_type': 'code', 'source': '#| export\ndef _h(x): return x\ndef f(x): return _h(x)'},
             {'cell_type': 'code', 'source': 'test_eq(f(1), 1)'}, {'cell_type': 'code', 'source': 'test_eq(_h(1), 1)'},
             {'cell_type': 'markdown', 'source': '## Tests'}, {'cell_type': 'code', 'source': 'test_eq(_h(2), 2)'}]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)/'x.ipynb'; p.write_text(json.dumps({'cells': cells}), encoding='utf-8')
        assert [(i, n) for i, _, n in private_asserts(p)] == [(2, ['_h'])]


def _table_outputs(nb:Path)->int:
    "Saved outputs that are tables: an HTML table (a DataFrame, a Styler) or a DataFrame's text."
    n = 0
    for c in _cells(nb):
        for o in c.get('outputs', []) if c['cell_type'] == 'code' else []:
            d = o.get('data', {})
            html, text = ''.join(d.get('text/html', '')), ''.join(d.get('text/plain', ''))
            n += '<table' in html or bool(re.search(r'\[\d+ rows x \d+ columns\]', text))
    return n


@pytest.mark.parametrize('nb', TUTORIALS, ids=lambda p: p.stem)
def test_tutorials_keep_their_tables(nb):
    "A tutorial is committed with at least five tables (AUROC, thresholds, calibration ...) in its saved outputs."
    n = _table_outputs(nb)
    assert n >= 5, (f'{nb.name} keeps {n} table outputs (at least 5 expected): run '
                    f'`python tests/scripts/run_notebooks.py nbs/{nb.name}` and commit the outputs')


KERMANY_MARK = 'Kermany (real patients)'  # what the pneumonia tutorial prints when it reads the real Kermany set


def test_pneumonia_tutorial_outputs_come_from_the_real_kermany_set():
    """The pneumonia tutorial's text discusses the real Kermany figures: its saved outputs must come from a run on the
    real set (`../shared`'s copy), not the phantom (rerun it where ../shared is, with XRAYLIB_USE_PHANTOM unset)."""
    out = ' '.join(''.join(o.get('text', '')) for c in _cells(TUTORIALS[1]) if c['cell_type'] == 'code'
                   for o in c.get('outputs', []) if o.get('output_type') == 'stream')
    assert KERMANY_MARK in out and 'PHANTOM' not in out, (
        f'{TUTORIALS[1].name}: the saved outputs do not say {KERMANY_MARK!r} (or say PHANTOM): rerun it beside ../shared')


def _shows(nb:Path)->bool:
    "Whether a notebook keeps an output other than stderr: a table, a plot, a value or printed text."
    return any(o.get('output_type') != 'stream' or o.get('name') == 'stdout'
               for c in _cells(nb) if c['cell_type'] == 'code' for o in c.get('outputs', []))


def test_most_notebooks_keep_an_output():
    """At least 60% of the notebooks are committed with a real output (not only warnings on stderr), so the docs site
    and GitHub show what the examples do; `python tests/scripts/run_notebooks.py NOTEBOOK` saves them."""
    nbs = sorted(NBS.glob('*.ipynb'))
    shown = [nb.stem for nb in nbs if _shows(nb)]
    assert len(shown) >= 0.6 * len(nbs), (f'{len(shown)} of {len(nbs)} notebooks keep a non-stderr output (60% '
                                          f'expected); without one: {sorted({nb.stem for nb in nbs} - set(shown))}')
