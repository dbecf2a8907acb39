"""The package's shape (issues 32, 42): stages as subpackages whose imports flow one way, no import circle, small export
cells, one public name per thing, no re-exports but `xraylib.all`, no repeated code. Cheap: it parses files, runs nothing."""
import ast, json, re, shutil, subprocess
from collections import defaultdict
from pathlib import Path
import pytest
try: from conftest import NBS, REPO
except ImportError:
    import sys; sys.path.insert(0, str(Path(__file__).parent)); from conftest import NBS, REPO

LIB = REPO/'xraylib'
MAX_CELL = 40


TOP = '__init__'  # the name of the top-level xraylib/__init__.py (a docstring and `__version__`; it imports nothing)


def _modules(root:Path)->dict:
    """Dotted module name (below `xraylib`) -> file, for every module but nbdev's generated index. A package's
    `__init__.py` is the module named for its package ('data' for data/__init__.py, `TOP` for the top one)."""
    out = {}
    for p in sorted(root.rglob('*.py')):
        if p.name == '_modidx.py': continue
        parts = p.relative_to(root).with_suffix('').parts
        out['.'.join(parts[:-1] if p.name == '__init__.py' else parts) or TOP] = p
    return out

MODULES = _modules(LIB)
# The stages, lowest first: a module may import its own stage and the stages before it, never one after it.
STAGES = [('foundations', ('core', 'vocab', 'stats', 'progress', TOP)), ('imaging', ('imaging',)), ('data', ('data',)),
          ('datasets', ('datasets',)), ('inference', ('inference',)), ('evaluation', ('evaluation',)),
          ('training', ('training',)), ('serving', ('serving',)), ('entry points', ('cli', 'all'))]
SERVING_NEVER = ('training',)  # serving sits above training in the list, but never reaches it


def stage(mod:str)->int:
    top = mod.split('.')[0]
    return next(i for i, (_, tops) in enumerate(STAGES) if top in tops)


MAX_LINE = 120

def long_lines(files)->list:
    """`file:line (length)` of every line over `MAX_LINE` characters, but the `__all__` lists nbdev's exporter writes
    itself (it wraps them at 120 characters after `__all__ = `)."""
    out = []
    for f in files:
        in_all = False
        for i, l in enumerate(Path(f).read_text(encoding='utf-8').split('\n'), 1):
            in_all = l.startswith('__all__ = [') or (in_all and l.startswith(' ' * 11))
            if len(l) > MAX_LINE and not in_all: out.append(f'{f}:{i} ({len(l)})')
    return out


def test_library_lines_at_most_120_characters():
    "Every line of the library (generated from the notebooks' export cells) fits 120 characters."
    assert not long_lines(MODULES.values()), long_lines(MODULES.values())


def test_line_check_can_fail(tmp_path):
    f = tmp_path/'m.py'
    f.write_text("__all__ = ['" + 'a' * 130 + "']\nx = 1  # " + 'b' * 120 + "\n" + 'y = 2\n')
    assert long_lines([f]) == [f'{f}:2 ({12 + 120 - 1})'.replace(str(12 + 120 - 1), str(len('x = 1  # ' + 'b' * 120)))]


def test_line_check_reads_init_files(tmp_path):
    "The check can fail on a package's `__init__.py` and the top one (nbdev's `__all__` lists still excepted)."
    (tmp_path/'data').mkdir()
    (tmp_path/'__init__.py').write_text('"""' + 'd' * 120 + '"""\n')
    (tmp_path/'data'/'__init__.py').write_text("__all__ = ['" + 'a' * 130 + "']\nx = 1  # " + 'b' * 120 + '\n')
    (tmp_path/'_modidx.py').write_text('d = ' + 'e' * 130 + '\n')
    assert long_lines(_modules(tmp_path).values()) == [f"{tmp_path/'__init__.py'}:1 (126)",
                                                        f"{tmp_path/'data'/'__init__.py'}:2 (129)"]


def test_every_module_has_a_stage():
    assert len(MODULES) > 30, f'found only {sorted(MODULES)} in {LIB}'
    for m in MODULES: stage(m)  # raises StopIteration for a module outside every stage
    assert {TOP, 'data', 'datasets', 'training'} <= set(MODULES) and '_modidx' not in MODULES  # `__init__`s are modules
    assert {m.split('.')[0] for m in MODULES} >= {'imaging', 'data', 'datasets', 'inference', 'evaluation', 'training', 'serving'}


def _below_xraylib(name:str):
    "`'xraylib.a.b'` -> `'a.b'`, `'xraylib'` -> `''`; None for a name outside xraylib."
    return '' if name == 'xraylib' else name[len('xraylib.'):] if name.startswith('xraylib.') else None


def _relative(pkg:list, level:int, name:str):
    "The dotted name below xraylib that `from {'.' * level}{name}` means in package `pkg` (parts); None above xraylib."
    if level - 1 > len(pkg): return None
    return '.'.join(pkg[:len(pkg) - level + 1] + (name.split('.') if name else []))


def _targets(name:str, modules:dict, whole:bool=True)->set:
    """The modules an import of `name` (dotted below xraylib; '' is xraylib itself) stands for. A package bound to a
    name whole (`from .. import training`, `from xraylib import evaluation as ev`, `import xraylib.training`,
    `import_module('xraylib.training')`) counts as its `__init__` and every module below it: attribute access reaches
    any of them. A package imported only for names from its `__init__` (`from ..evaluation import *`, `from x import f`
    with `f` no submodule) counts as its `__init__` only; so does `import xraylib` (see `_xraylib_attributes`)."""
    m = name or TOP
    if m not in modules: return set()
    pkg = whole and m != TOP and modules[m].name == '__init__.py'
    return {m} | ({k for k in modules if k.startswith(m + '.')} if pkg else set())


def _dynamic(call:ast.Call, pkg:list):
    """The dotted name below xraylib that `importlib.import_module(NAME)`, `import_module(NAME)` or `__import__(NAME)`
    imports, where NAME is a string constant: absolute, or relative (to `package=`, a constant or `__package__`). None
    otherwise: a name computed at run time (as `cli` does with its command table) cannot be read from the source."""
    f = call.func
    fn = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', None)
    if fn not in ('import_module', '__import__') or not call.args: return None
    name = call.args[0]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)): return None
    if not name.value.startswith('.'): return _below_xraylib(name.value)
    if fn != 'import_module': return None  # `__import__`'s relative form needs globals(); not used here
    p = next((k.value for k in call.keywords if k.arg == 'package'), call.args[1] if len(call.args) > 1 else None)
    if isinstance(p, ast.Name) and p.id == '__package__': base = pkg
    elif isinstance(p, ast.Constant) and isinstance(p.value, str) and (b := _below_xraylib(p.value)) is not None:
        base = b.split('.') if b else []
    else: return None
    rest = name.value.lstrip('.')
    return _relative(base, len(name.value) - len(rest), rest)


def _xraylib_attributes(tree:ast.AST, modules:dict)->set:
    """After `import xraylib` (or `import xraylib.x`, which binds `xraylib` too): the modules its attribute chains
    reach, `xraylib.training.learner.train` -> 'training.learner' (the longest chain that names a module),
    `xraylib.__version__` -> `TOP`. A chain through a variable (`x = xraylib.training; x.learner`) is not followed."""
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    out = set()
    for n in ast.walk(tree):
        if not isinstance(n, ast.Attribute) or id(n) in inner: continue
        parts = []
        while isinstance(n, ast.Attribute): parts.insert(0, n.attr); n = n.value
        if isinstance(n, ast.Name) and n.id == 'xraylib':
            out.add(next((m for i in range(len(parts), 0, -1) if (m := '.'.join(parts[:i])) in modules), TOP))
    return out


def _imported(mod:str, tree:ast.AST, modules:dict=None)->set:
    """The xraylib modules `mod` (dotted, below `xraylib`) imports anywhere (module level and inside functions):
    `import`, `from ... import` (absolute or relative, `*` included), `importlib.import_module`/`__import__` of a string
    constant, and attributes of `xraylib` after `import xraylib`. What a package import stands for: `_targets`.
    Importing `xraylib.a.b` also runs xraylib/__init__.py and a/__init__.py: those implicit edges are left out."""
    modules = MODULES if modules is None else modules
    parts = [] if mod == TOP else mod.split('.')
    pkg = parts if mod in modules and modules[mod].name == '__init__.py' else parts[:-1]  # where `.` points
    out, binds_xraylib = set(), False
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            base = _relative(pkg, n.level, n.module) if n.level else _below_xraylib(n.module or '')
            if base is None: continue
            out |= _targets(base, modules, whole=False)  # `from X import ...` runs X (a package: its `__init__`)
            out |= {t for a in n.names if a.name != '*' for t in _targets(f'{base}.{a.name}'.lstrip('.'), modules)}
        elif isinstance(n, ast.Import):
            for a in n.names:
                if (b := _below_xraylib(a.name)) is None: continue
                out |= _targets(b, modules, whole=b != '')
                binds_xraylib |= a.asname is None
        elif isinstance(n, ast.Call) and (b := _dynamic(n, pkg)) is not None: out |= _targets(b, modules)
    if binds_xraylib: out |= _xraylib_attributes(tree, modules)
    return out - {mod}


def import_graph(modules:dict=None)->dict:
    modules = MODULES if modules is None else modules
    return {m: _imported(m, ast.parse(p.read_text()), modules) for m, p in modules.items()}


def backward_imports(graph:dict)->list:
    "`(importer, imported)` pairs that go against the stages: to a later stage, or from serving to training."
    return sorted((a, b) for a, ms in graph.items() for b in ms
                  if stage(b) > stage(a) or (a.split('.')[0] == 'serving' and b.split('.')[0] in SERVING_NEVER))


def test_imports_flow_one_way():
    """Inference never reaches training or evaluation; evaluation never reaches training; data never reaches training,
    evaluation or serving; no circle between subpackages: every import goes to the module's own stage or an earlier one."""
    g = import_graph()
    assert sum(map(len, g.values())) > 60, f'the import graph looks empty: {g}'
    assert backward_imports(g) == [], f'imports against the stages (see xraylib/__init__.py): {backward_imports(g)}'
    stages = {(stage(a), stage(b)) for a, ms in g.items() for b in ms if stage(a) != stage(b)}
    assert all(a > b for a, b in stages)


def test_direction_check_can_fail(tmp_path):
    "The check can fail: inference importing evaluation (inside a function) is found."
    for f in ('inference', 'evaluation'): (tmp_path/f).mkdir(); (tmp_path/f/'__init__.py').write_text('')
    (tmp_path/'inference'/'p.py').write_text('def f():\n    from ..evaluation.t import g\n')
    (tmp_path/'evaluation'/'t.py').write_text('from xraylib.inference.p import f\n')
    g = import_graph(_modules(tmp_path))
    assert backward_imports(g) == [('inference.p', 'evaluation.t')]


def test_direction_check_sees_every_import_form(tmp_path):
    """The check can fail on each import form: `importlib.import_module`/`__import__` of a string constant (absolute,
    relative to `package=`), a package imported whole (`from .. import training`, `from xraylib import evaluation as
    ev`), `from ..evaluation import *`, `import xraylib` with attribute access, and imports in `__init__.py` files."""
    files = {'__init__.py': 'from .training import learner\n', '_modidx.py': 'from xraylib.serving import app\n',
             'core.py': '', 'training/__init__.py': '', 'training/learner.py': '', 'evaluation/__init__.py': '',
             'evaluation/t.py': '', 'inference/__init__.py': 'from ..training import learner\n',
             'inference/dyn.py': "import importlib\ndef f():\n    importlib.import_module('xraylib.training.learner')",
             'inference/rel.py': "from importlib import import_module\n"
                                 "m = import_module('.learner', package='xraylib.training')\n",
             'inference/pkgrel.py': "import importlib\nm = importlib.import_module('..evaluation.t', __package__)\n",
             'inference/dunder.py': "__import__('xraylib.evaluation.t')\n",
             'inference/sub.py': 'from .. import training\n', 'inference/star.py': 'from ..evaluation import *\n',
             'inference/alias.py': 'from xraylib import evaluation as ev\n',
             'inference/attr.py': 'import xraylib\ndef f(): return xraylib.training.learner.fit\n',
             'inference/fine.py': 'import importlib, xraylib\nfrom .. import core\nv = xraylib.__version__\n'
                                  'def f(name): return importlib.import_module(name)\n'}
    for f, src in files.items(): (tmp_path/f).parent.mkdir(exist_ok=True); (tmp_path/f).write_text(src)
    mods = _modules(tmp_path)
    planted = 'dyn rel pkgrel dunder sub star alias attr fine'.split()
    assert sorted(mods) == sorted([TOP, 'core', 'training', 'training.learner', 'evaluation', 'evaluation.t',
                                   'inference'] + [f'inference.{m}' for m in planted])  # `__init__`s in, `_modidx` out
    g = import_graph(mods)
    assert g['inference.fine'] == {TOP, 'core'}
    assert backward_imports(g) == [
        (TOP, 'training'), (TOP, 'training.learner'), ('inference', 'training'), ('inference', 'training.learner'),
        ('inference.alias', 'evaluation'), ('inference.alias', 'evaluation.t'), ('inference.attr', 'training.learner'),
        ('inference.dunder', 'evaluation.t'), ('inference.dyn', 'training.learner'),
        ('inference.pkgrel', 'evaluation.t'), ('inference.rel', 'training.learner'), ('inference.star', 'evaluation'),
        ('inference.sub', 'training'), ('inference.sub', 'training.learner')]


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
    g = import_graph(_modules(tmp_path))
    assert circles(g) == [['a', 'b']]


def test_no_import_circle():
    g = import_graph()
    assert sum(map(len, g.values())) > 30, f'the import graph looks empty: {g}'
    assert circles(g) == [], f'import circles among xraylib modules (module- or function-level imports): {circles(g)}'


def signature_lines(src:str)->int:
    "Lines of `src` inside functions' signatures after their `def` lines (a parameter and its docment each)."
    try: tree = ast.parse(src)
    except SyntaxError: return 0
    return sum(max(0, f.body[0].lineno - f.lineno - 1) for f in ast.walk(tree)
               if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.body)


def _export_cells():
    "`(notebook, cell id, lines)` of every export cell, less its signatures' parameter lines (docments are documentation)."
    for nb in sorted(NBS.glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and src.lstrip().startswith(('#| export', '#|export', '#| exports')):
                yield nb.name, c.get('id'), len(src.splitlines()) - signature_lines(src)


def test_signature_lines_are_counted_apart():
    src = 'def f(a, # one\n      b=2, # two\n     )->int:\n    "doc"\n    return a\n\ndef g(x): return x\n'
    assert signature_lines(src) == 2


def test_export_cells_at_most_40_lines():
    "Every export cell at most 40 lines, besides its parameters (one a line, each with its docment)."
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


def test_public_names_have_one_home():
    homes = defaultdict(list)
    for m, p in MODULES.items():
        if m == 'all': continue
        for name in _defined(ast.parse(p.read_text())): homes[name].append(m)
    assert len(homes) > 200, f'found only {len(homes)} public names'
    two = {n: ms for n, ms in homes.items() if len(ms) > 1}
    assert not two, f'public names defined in more than one module (give each thing one name and one home): {two}'


def test_duplicates_finds_nothing(tmp_path):
    if shutil.which('duplicates') is None: pytest.skip('the `duplicates` command is not on PATH')
    for m, p in MODULES.items():  # every module but the generated _modidx.py and `all` (a list of imports by design)
        if m != 'all': shutil.copy(p, tmp_path/f"{'top_init' if m == TOP else m}.py")
    r = subprocess.run(['duplicates', '--repo', str(tmp_path), '--most', '20'], capture_output=True, text=True, timeout=120)
    assert f'({len(MODULES) - 1} files read)' in r.stdout, r.stdout + r.stderr
    assert r.stdout.startswith('no duplicates'), f'duplicates found repeated code in xraylib/:\n{r.stdout}'


def _reexports(tree:ast.Module)->list:
    "Names a module hands out that it imports rather than defines: `_all_`/`__all__` entries bound by an import."
    imported = {(a.asname or a.name).split('.')[0] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    out = []
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(getattr(t, 'id', '') in ('__all__', '_all_') for t in n.targets):
            out += [e.value for e in ast.walk(n.value) if isinstance(e, ast.Constant) and e.value in imported]
    return out


def test_no_reexports_or_renamed_shims():
    "Every public name is imported from the module that defines it; only `xraylib.all` gathers names. No `renamed()` shims."
    found = {m: r for m, p in MODULES.items() if m != 'all' and (r := _reexports(ast.parse(p.read_text())))}
    assert not found, f'modules re-exporting names they import: {found}'
    shims = [m for m, p in MODULES.items() if re.search(r'^__getattr__\s*=|\brenamed\(', p.read_text(), re.M)]
    assert not shims, f'modules with a module-level __getattr__ shim: {shims}'
    assert len(_reexports(ast.parse(MODULES['all'].read_text()))) >= 20  # the check sees re-exports where they are meant


# One name per idea (issue 42): what each of these parameter names means, wherever it appears; the synonyms they replaced
# are refused in public signatures. `dest` is a dataset's folder (a download's or the phantom's, reused when complete),
# `out` a folder a command writes its results into: two ideas, each with its one name.
GLOSSARY = {'out': "a folder a command writes its results into", 'dest': "a dataset's folder, written by a download",
            'num_workers': "parallel workers (threads or processes), torch's and fastai's name",
            'threads': "threads one computation uses (torch, ONNX Runtime, a decoder)",
            'quiet': "no progress bars or messages",
            'thresholds': "probability cut-offs: a float for every label, "
                          "or (where a function takes them) {label: cut-off}"}
SYNONYMS = {'out_dir': 'out', 'outdir': 'out', 'output_dir': 'out', 'out_folder': 'out', 'output_folder': 'out',
            'workers': 'num_workers', 'n_workers': 'num_workers', 'n_jobs': 'num_workers',
            'progress': 'quiet', 'verbose': 'quiet', 'show_progress': 'quiet', 'silent': 'quiet',
            'thresh': 'thresholds', 'threshs': 'thresholds', 'gradcam_label': 'cam_label',
            'model_dir': 'model'}  # `model`: a model folder (or file)
KEEP = {('training.metrics', 'accuracy_multi', 'thresh')}  # fastai's `accuracy_multi` signature, kept as a drop-in


def dest_home(m:str)->bool: return m == 'core' or m.startswith('datasets.')  # where dataset folders are written


def _arg_names(a:ast.arguments)->list:
    "Every name of a signature: positional-only, ordinary, `*args`, keyword-only and `**kwargs`."
    return [p.arg for p in a.posonlyargs + a.args + [a.vararg] + a.kwonlyargs + [a.kwarg] if p is not None]


def _public_params(tree:ast.Module)->list:
    """`(function, parameter)` for every public function and method of a module (and `__init__`s), every lambda bound
    to a public name (`f = lambda progress=True: ...`), and `(class, field)` for every annotated name in a public
    class's body (a dataclass's or NamedTuple's fields: `workers: int = 1`)."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and (not n.name.startswith('_') or n.name == '__init__'):
            out += [(n.name, a) for a in _arg_names(n.args)]
        elif isinstance(n, (ast.Assign, ast.AnnAssign)) and isinstance(n.value, ast.Lambda):
            names = [t.id for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)]
            out += [(f, a) for f in names if not f.startswith('_') for a in _arg_names(n.value.args)]
        if isinstance(n, ast.ClassDef) and not n.name.startswith('_'):
            out += [(n.name, b.target.id) for b in n.body
                    if isinstance(b, ast.AnnAssign) and isinstance(b.target, ast.Name)]
    return out


def misnamed(modules:dict)->list:
    "`module.function(parameter)`: use NAME` for every parameter spelled with a synonym, or `dest` outside datasets."
    bad = []
    for m, p in modules.items():
        for f, a in _public_params(ast.parse(p.read_text())):
            if a in SYNONYMS and (m, f, a) not in KEEP: bad.append(f'{m}.{f}({a}): use {SYNONYMS[a]}')
            if a == 'dest' and not dest_home(m): bad.append(f'{m}.{f}(dest): use out (a results folder)')
    return bad


def test_one_name_per_idea():
    bad = misnamed(MODULES)
    assert not bad, 'parameters spelled with a synonym (see GLOSSARY in this file):\n' + '\n'.join(bad)


def test_name_check_can_fail(tmp_path):
    (tmp_path/'m.py').write_text('def f(x, progress=True, out_dir=None): pass\ndef g(dest): pass\n')
    assert misnamed({'evaluation.m': tmp_path/'m.py'}) == [
        'evaluation.m.f(progress): use quiet', 'evaluation.m.f(out_dir): use out', 'evaluation.m.g(dest): use out (a results folder)']


def test_name_check_sees_fields_star_args_and_lambdas(tmp_path):
    """The check can fail on a dataclass field, a keyword-only parameter, `*args`/`**kwargs` names, a lambda bound to a
    public name, and the newer synonyms; a private class's field, a private lambda and `dest` in datasets are fine."""
    (tmp_path/'m.py').write_text(
        '@dataclass\nclass Settings:\n    workers: int = 1\n    out: str = "."\n'
        '    def run(self): self.n_jobs: int = 2\n'
        'class _Private:\n    silent: bool = False\n'
        'def f(x, *, threshs=None, **progress): pass\ndef g(*verbose, model_dir=None): pass\n'
        'show = lambda gradcam_label, silent=False: None\n_hidden = lambda silent: None\n'
        'h: object = lambda *, out_folder=None, output_folder=None: None\n')
    (tmp_path/'d.py').write_text('def fetch(dest): pass\n')
    assert misnamed({'evaluation.m': tmp_path/'m.py', 'datasets.d': tmp_path/'d.py', 'core': tmp_path/'d.py'}) == [
        'evaluation.m.Settings(workers): use num_workers', 'evaluation.m.f(threshs): use thresholds',
        'evaluation.m.f(progress): use quiet', 'evaluation.m.g(verbose): use quiet',
        'evaluation.m.g(model_dir): use model',
        'evaluation.m.show(gradcam_label): use cam_label', 'evaluation.m.show(silent): use quiet',
        'evaluation.m.h(out_folder): use out', 'evaluation.m.h(output_folder): use out']
    assert misnamed({'corex': tmp_path/'d.py', 'datasets': tmp_path/'d.py'}) == [
        'corex.fetch(dest): use out (a results folder)', 'datasets.fetch(dest): use out (a results folder)']
