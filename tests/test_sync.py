"xraylib/*.py are generated from nbs/: exporting the notebooks again, in a copy of the project, gives the same files."
import os, shutil, subprocess, sys
from pathlib import Path
try: from conftest import NBS, REPO
except ImportError: sys.path.insert(0, str(Path(__file__).parent)); from conftest import NBS, REPO


def test_library_matches_notebooks(tmp_path):
    proj = tmp_path/'proj'
    shutil.copytree(NBS, proj/'nbs', ignore=shutil.ignore_patterns('runs', 'data', 'models', '.ipynb_checkpoints', '_*'))
    shutil.copy(REPO/'settings.ini', proj)
    for init in (REPO/'xraylib').rglob('__init__.py'):  # the package markers (the stage map in the top one), not generated
        (proj/'xraylib'/init.parent.relative_to(REPO/'xraylib')).mkdir(parents=True, exist_ok=True)
        shutil.copy(init, proj/'xraylib'/init.relative_to(REPO/'xraylib'))
    nbs = sorted(p.name for p in (proj/'nbs').glob('*.ipynb'))
    assert len(nbs) > 5, f'copied notebooks: {nbs}'
    code = ('from pathlib import Path\nfrom nbdev.export import nb_export\nfrom nbdev.doclinks import _build_modidx\n'
            "for nb in sorted(Path('nbs').glob('*.ipynb')): nb_export(nb)\n_build_modidx()\n")
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}  # nbdev's test_nb sets IN_TEST, and nbdev exports nothing then
    r = subprocess.run([sys.executable, '-c', code], cwd=proj, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    made = sorted(p.relative_to(proj/'xraylib') for p in (proj/'xraylib').rglob('*.py'))
    have = sorted(p.relative_to(REPO/'xraylib') for p in (REPO/'xraylib').rglob('*.py'))
    assert len(made) > 5, f'the notebooks {nbs} exported almost nothing: {made}\n{r.stdout}\n{r.stderr}'
    assert made == have, f'modules differ: run nbdev_export (notebooks make {made}, xraylib/ has {have})'
    for rel in made:
        assert (proj/'xraylib'/rel).read_text() == (REPO/'xraylib'/rel).read_text(), \
            f'xraylib/{rel} differs from its notebook: run nbdev_export and commit'


# The repository's address is written once, in settings.ini (git_url, branch); the notebooks' Colab badges and the
# tutorial's Colab install cell are made from it. After changing settings.ini, `python tests/test_sync.py --fix`
# rewrites them; this test says which notebook still points elsewhere.
import re, configparser

def _repo_links():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(REPO/'settings.ini')
    url, branch = cfg['DEFAULT']['git_url'].rstrip('/'), cfg['DEFAULT']['branch']
    path = url.split('github.com/', 1)[1]
    badge = lambda nb: f'https://colab.research.google.com/github/{path}/blob/{branch}/nbs/{nb}'
    return badge, f'git+{url}@{branch}'

BADGE_RE = re.compile(r'https://colab\.research\.google\.com/github/[^)\s"]+?/nbs/([\w.-]+\.ipynb)')
INSTALL_RE = re.compile(r'git\+https://[^\s"@\\]+(@[\w./-]+)?')

def _fixed(text, name):
    badge, install = _repo_links()
    return INSTALL_RE.sub(install, BADGE_RE.sub(lambda m: badge(m[1]), text))


def test_colab_links_come_from_settings():
    badge, install = _repo_links()
    stale = []
    for nb in sorted(NBS.glob('*.ipynb')):
        text = nb.read_text()
        if text != _fixed(text, nb.name): stale.append(nb.name)
        if BADGE_RE.search(text) and badge(nb.name) not in text: stale.append(f'{nb.name} (a Colab badge for another notebook)')  # no badge: fine (tests/test_docs.py)
    if (t := (REPO/'README.md').read_text()) != _fixed(t, 'README.md'): stale.append('README.md')
    assert install in (NBS/'90_tutorial_nih_sample.ipynb').read_text(), f'the tutorial does not install {install}'
    assert not stale, f'Colab links that do not match settings.ini: {stale}; run `python tests/test_sync.py --fix`'


if __name__ == '__main__' and '--fix' in sys.argv:
    for nb in [*sorted(NBS.glob('*.ipynb')), REPO/'README.md']:
        t = nb.read_text()
        if (f := _fixed(t, nb.name)) != t: nb.write_text(f); print('fixed', nb.name)


def test_public_names_are_defined():
    """Every name in a module's `__all__` is bound, and no `@patch`-ed method shares its name with a module-level function:
    fastcore 1.8 (Colab's) binds a patched name to None in the module, which erased `xraylib.inference.predict.preprocess` there."""
    import importlib, inspect, pkgutil, xraylib
    for m in pkgutil.iter_modules(xraylib.__path__):
        if m.name.startswith('_'): continue
        mod = importlib.import_module(f'xraylib.{m.name}')
        unbound = [n for n in getattr(mod, '__all__', []) if getattr(mod, n, None) is None]
        assert not unbound, f'xraylib.{m.name}: public names bound to None: {unbound}'
        for cls in [o for o in vars(mod).values() if inspect.isclass(o) and o.__module__ == mod.__name__]:
            for n, f in vars(cls).items():
                f = getattr(f, 'fget', getattr(f, '__func__', f))
                plain = getattr(mod, n, None)
                if getattr(f, '__qualname__', '') == f'{cls.__name__}.{n}' and inspect.isfunction(plain) and plain.__qualname__ == n:
                    raise AssertionError(f'xraylib.{m.name}.{n} is both a function and a @patch-ed method of {cls.__name__}: '
                                         'under fastcore 1.8 the function is lost (rename one of them)')
