"Execute every notebook in nbs/ offline, as CI does, skipping cells flagged with settings.ini's tst_flags."
import os
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it
from conftest import NBS

pytestmark = pytest.mark.notebooks  # slow too (conftest)

NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
# Flags in XRAYLIB_TEST_FLAGS (space-separated) are run too, e.g. XRAYLIB_TEST_FLAGS=slow
FORCE = os.environ.get('XRAYLIB_TEST_FLAGS', '').split()


@pytest.mark.timeout(900)
@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(nb):
    skip = get_config(path=NBS).tst_flags.split()
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=FORCE)
    assert ok, f'{nb.name} failed (traceback above)'


PNEUMONIA = NBS/'91_tutorial_pneumonia.ipynb'


@pytest.mark.timeout(600)
def test_pneumonia_tutorial_offline_on_the_phantom(monkeypatch):
    "The pneumonia tutorial's offline path (the phantom folder set), which the run above does not take when ../shared is there."
    from xraylib.core import shared_data
    if os.environ.get('XRAYLIB_CI_COLAB_JOB') == '1':
        pytest.skip("CI's Colab-like job (.ci/colab-smoke.sh, run after pytest) runs this same phantom path of the tutorial")
    if shared_data('kermany-pneumonia-224', 'chest_xray', start=NBS) is None:
        pytest.skip('no ../shared Kermany set: test_notebook_runs[91_tutorial_pneumonia.ipynb] already ran the phantom path')
    monkeypatch.setenv('XRAYLIB_USE_PHANTOM', '1')
    ok, secs = run_notebook(PNEUMONIA, skip_flags=get_config(path=NBS).tst_flags.split(), force_flags=FORCE)
    assert ok, f'{PNEUMONIA.name} failed on the phantom (traceback above)'
