"""tests/ is laid out like bayesmm/: the tests of ``bayesmm/x/y.py`` are in ``tests/x/test_y.py``, those of
``bayesmm/y.py`` in ``tests/test_y.py``; ``bad_input/`` holds the catalogue of bad inputs and ``end_to_end/`` the
checks of the whole pipeline (reference fits, calibration, notebooks). The helper modules shared by several
folders (``answers_fits``, ``reference_tools``, ``simulators``) live here, importable from every folder."""
import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
