"xraylib/*.py are generated from nbs/: exporting the notebooks again, in a copy of the project, gives the same files."
import os, shutil, subprocess, sys
from conftest import NBS, REPO


def test_library_matches_notebooks(tmp_path):
    proj = tmp_path/'proj'
    shutil.copytree(NBS, proj/'nbs', ignore=shutil.ignore_patterns('runs', 'data', 'models', '.ipynb_checkpoints', '_*'))
    shutil.copy(REPO/'settings.ini', proj)
    (proj/'xraylib').mkdir()
    shutil.copy(REPO/'xraylib'/'__init__.py', proj/'xraylib')
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
