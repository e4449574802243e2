"""The committed type stubs (python/sds/_C/*.pyi, for IDEs and type checkers) are what
pybind11-stubgen makes of the bindings; `make stubs` regenerates them."""
import os
import subprocess
import sys

import pytest

from conftest import SOURCE_DIR


def test_the_committed_type_stubs_match_the_bindings(tmp_path):
    pytest.importorskip("pybind11_stubgen")
    subprocess.run([sys.executable, "-m", "pybind11_stubgen", "sds._C", "-o", str(tmp_path),
                    "--exit-code"], check=True, env=os.environ.copy(), capture_output=True)
    for name in ["__init__.pyi", "ops.pyi"]:
        fresh = (tmp_path / "sds" / "_C" / name).read_text()
        committed = (SOURCE_DIR / "python" / "sds" / "_C" / name).read_text()
        assert fresh == committed, f"python/sds/_C/{name} is stale: run `make stubs`"
