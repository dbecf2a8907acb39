"xraylib/*.py are generated from nbs/: exporting each notebook again must give the same files."
import re
from nbdev.export import nb_export
from conftest import NBS, REPO


def _norm(text: str) -> str:
    "Exported files name their notebook by a path relative to the library folder: make that path canonical."
    return re.sub(r'(File to edit: |# %% )\S*?nbs/', r'\1../nbs/', text)


def test_library_matches_notebooks(tmp_path):
    mods = []
    for nb in sorted(NBS.glob('*.ipynb')): nb_export(nb, tmp_path)
    for f in sorted(tmp_path.rglob('*.py')):
        rel = f.relative_to(tmp_path)
        mods.append(rel)
        lib = REPO/'xraylib'/rel
        assert lib.exists(), f'{rel} is exported by a notebook but missing from xraylib/: run nbdev_export'
        assert _norm(f.read_text()) == _norm(lib.read_text()), f'xraylib/{rel} differs from its notebook: run nbdev_export'
    assert mods, 'no notebook exported anything'
