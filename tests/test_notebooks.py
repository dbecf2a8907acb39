"Execute every notebook in nbs/ offline, as CI does, skipping cells flagged with settings.ini's tst_flags."
import os
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it
from conftest import NBS

NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
# Flags in XRAYLIB_TEST_FLAGS (space-separated) are run too, e.g. XRAYLIB_TEST_FLAGS=slow
FORCE = os.environ.get('XRAYLIB_TEST_FLAGS', '').split()


@pytest.mark.timeout(900)
@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(nb):
    skip = get_config(path=NBS).tst_flags.split()
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=FORCE)
    assert ok, f'{nb.name} failed (traceback above)'
