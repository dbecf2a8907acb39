"The package's shape (issue 32): modules of one concern and at most 450 lines, no import circle, small export cells, one public name per thing, no repeated code. Cheap: it parses files, runs nothing of xraylib."
import ast, json, shutil, subprocess
from collections import defaultdict
from pathlib import Path
import pytest
try: from conftest import NBS, REPO
except ImportError:
    import sys; sys.path.insert(0, str(Path(__file__).parent)); from conftest import NBS, REPO

LIB = REPO/'xraylib'
MAX_LINES, MAX_CELL = 450, 40
# _modidx.py is nbdev's generated index of the notebooks' symbols, not a module anyone reads or imports
MODULES = {p.stem: p for p in sorted(LIB.glob('*.py')) if p.name not in ('_modidx.py', '__init__.py')}


def test_modules_at_most_450_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert len(long) > 20, f'found only {sorted(long)} in {LIB}'
    assert not {n: k for n, k in long.items() if k > MAX_LINES}, \
        f'modules over {MAX_LINES} lines (split them along a concern): {({n: k for n, k in long.items() if k > MAX_LINES})}'


def _imported(mod:str, tree:ast.AST)->set:
    "The xraylib modules `mod` imports anywhere (module level and inside functions)."
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            base = n.module or ''
            if n.level == 1: base = f'xraylib.{base}' if base else 'xraylib'
            if base == 'xraylib': out |= {a.name for a in n.names if a.name in MODULES}  # from . import core
            elif base.startswith('xraylib.'): out.add(base.split('.')[1])
        elif isinstance(n, ast.Import):
            out |= {a.name.split('.')[1] for a in n.names if a.name.startswith('xraylib.') and a.name.split('.')[1] in MODULES}
    return out - {mod}


def import_graph(modules:dict=None)->dict:
    modules = MODULES if modules is None else modules
    return {m: _imported(m, ast.parse(p.read_text())) & set(modules) for m, p in modules.items()}


def circles(graph:dict)->list:
    "Strongly connected groups of more than one module (Tarjan), each sorted."
    idx, low, stack, on, out, k = {}, {}, [], set(), [], [0]
    def visit(v):
        idx[v] = low[v] = k[0]; k[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in idx: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            grp = []
            while True:
                w = stack.pop(); on.discard(w); grp.append(w)
                if w == v: break
            if len(grp) > 1: out.append(sorted(grp))
    for v in sorted(graph):
        if v not in idx: visit(v)
    return out


def test_circle_finder_finds_a_function_level_circle(tmp_path):
    "The check can fail: a circle made by an import inside a function is found."
    (tmp_path/'a.py').write_text('from .b import f\n')
    (tmp_path/'b.py').write_text('def f():\n    from xraylib.a import g\n')
    (tmp_path/'c.py').write_text('import xraylib.a\n')
    mods = {p.stem: p for p in tmp_path.glob('*.py')}
    g = {m: _imported(m, ast.parse(p.read_text())) & set(mods) for m, p in mods.items()}
    assert circles(g) == [['a', 'b']]


def test_no_import_circle():
    g = import_graph()
    assert sum(map(len, g.values())) > 30, f'the import graph looks empty: {g}'
    assert circles(g) == [], f'import circles among xraylib modules (module- or function-level imports): {circles(g)}'


def _export_cells():
    for nb in sorted(NBS.glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and src.lstrip().startswith(('#| export', '#|export', '#| exports')):
                yield nb.name, c.get('id'), len(src.splitlines())


def test_export_cells_at_most_40_lines():
    cells = list(_export_cells())
    assert len(cells) > 100, f'found only {len(cells)} export cells in {NBS}'
    long = [f'{nb} cell {i}: {n} lines' for nb, i, n in cells if n > MAX_CELL]
    assert not long, f'{len(long)} export cell(s) over {MAX_CELL} lines:\n' + '\n'.join(long)


def _cell_counts(cells:list)->tuple:
    "(export cells, example cells): examples are the other code cells, less `#| hide`, `#| default_exp` and the Colab install cell."
    ex = other = 0
    for c in cells:
        src = ''.join(c['source']).lstrip()
        if c['cell_type'] != 'code' or not src: continue
        if src.startswith(('#| export', '#|export', '#| exports')): ex += 1
        elif not src.startswith(('#| hide', '#|hide', '#| default_exp', '#|default_exp')) and '!pip install' not in src: other += 1
    return ex, other


def test_cell_counter_tells_exports_from_examples():
    "The check can fail: hidden, default_exp and install cells are not examples."
    code = lambda s: dict(cell_type='code', source=[s])
    cells = [code('#| default_exp x'), code("import sys\nif 'google.colab' in sys.modules: !pip install -q x"), code('#| hide\nimport x'),
             code('#| export\ndef f(): pass'), code('#| export\ndef g(): pass'), code('test_eq(f(), None)'), dict(cell_type='markdown', source=['f'])]
    assert _cell_counts(cells) == (2, 1)


def test_examples_at_least_as_many_as_exports():
    counts = {nb.name: _cell_counts(json.loads(nb.read_text())['cells']) for nb in sorted(NBS.glob('*.ipynb'))}
    assert sum(e for e, _ in counts.values()) > 100, f'found too few export cells in {NBS}'
    few = [f'{n}: {e} exports, {o} examples' for n, (e, o) in counts.items() if o < e]
    assert not few, f'{len(few)} notebook(s) with more export cells than examples:\n' + '\n'.join(few)


def _defined(tree:ast.Module)->set:
    "Names a module defines at its top level (functions, classes, assignments), not those it imports."
    out = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not any(isinstance(d, ast.Name) and d.id == 'patch' or isinstance(d, ast.Call) and getattr(d.func, 'id', '') == 'patch'
                       for d in n.decorator_list): out.add(n.name)  # a @patch method belongs to its class
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                out |= {e.id for e in ast.walk(t) if isinstance(e, ast.Name)}
    return {o for o in out if not o.startswith('_')}


# A collision that another piece of issue 32's work removes: drop the entry when it lands (a stale entry is harmless).
PENDING = {'auroc_table': 'app.auroc_table (Markdown) is renamed by the service work of issue 32'}


def test_public_names_have_one_home():
    homes = defaultdict(list)
    for m, p in MODULES.items():
        for name in _defined(ast.parse(p.read_text())): homes[name].append(m)
    assert len(homes) > 200, f'found only {len(homes)} public names'
    two = {n: ms for n, ms in homes.items() if len(ms) > 1 and n not in PENDING}
    assert not two, f'public names defined in more than one module (give each thing one name and one home): {two}'


def test_duplicates_finds_nothing(tmp_path):
    if shutil.which('duplicates') is None: pytest.skip('the `duplicates` command is not on PATH')
    for p in MODULES.values(): shutil.copy(p, tmp_path)  # every module but the generated _modidx.py
    r = subprocess.run(['duplicates', '--repo', str(tmp_path), '--most', '20'], capture_output=True, text=True, timeout=120)
    assert f'({len(MODULES)} files read)' in r.stdout, r.stdout + r.stderr
    assert r.stdout.startswith('no duplicates'), f'duplicates found repeated code in xraylib/:\n{r.stdout}'
