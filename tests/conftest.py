"Shared fixtures: the real data in ../shared (skipped with a reason when absent) and the repo paths."
import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
NBS = REPO/'nbs'
# CI and developers keep the real data at ../shared beside the checkout; XRAYLIB_SHARED_DATA overrides.
SHARED = Path(os.environ.get('XRAYLIB_SHARED_DATA', REPO.parent/'shared'/'data'))


def shared_path(*parts) -> Path:
    "Path below ../shared/data, or skip the calling test with the reason."
    p = SHARED.joinpath(*parts)
    if not p.exists(): pytest.skip(f'real data not available: {p} is absent (see ../shared/README.md)')
    return p


@pytest.fixture
def shared():
    "The `shared_path` function, as a fixture."
    return shared_path
