"""The docs agree with the code (issue 36): every notebook with an "Open in Colab" badge starts with the one guarded
install cell and needs nothing beyond the install; no line installs PyPI's unrelated `xraylib`. Static checks on the
files, no notebook or model is run (seconds)."""
import json, re, sys
from pathlib import Path
import pytest
try: from conftest import REPO
except ImportError: sys.path.insert(0, str(Path(__file__).parent)); from conftest import REPO

NBS = REPO/'nbs'
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
    assert {'10_tutorial_nih_sample', '11_tutorial_pneumonia', '00b_stats'} <= names, names


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
              *(REPO/'tests').rglob('*.py')]:
        if p.is_file() and p.name != 'test_docs.py': yield p, p.read_text(encoding='utf-8', errors='replace')


def test_no_line_installs_pypi_xraylib():
    "`xraylib` on PyPI is another project (X-ray-matter interaction data): only `xraylib-cxr` or the git URL install this one."
    bad = []
    for p, text in _texts():
        for line in text.replace('\\"', '"').splitlines():
            if PYPI_XRAYLIB.search(line.strip().strip('",')) and 'different project' not in line and 'uninstall' not in line:
                bad.append(f'{p.relative_to(REPO)}: {line.strip()[:160]}')
    assert not bad, 'lines that would install PyPI\'s xraylib:\n' + '\n'.join(bad)


def test_the_pypi_check_catches_each_form():
    for line in ['pip install xraylib', 'pip install "xraylib[app]"', '!pip install -q "xraylib[fast] @ git+https://x"',
                 "requirement:str='xraylib[app] @ git+https://github.com/x'", 'xraylib[app]']:
        assert PYPI_XRAYLIB.search(line), line
    for line in ['pip install "xraylib-cxr[app] @ git+https://x"', 'pip install -e ".[dev]"', 'xraylib train', 'import xraylib']:
        assert not PYPI_XRAYLIB.search(line), line
