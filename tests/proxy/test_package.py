"""The package's public names resolve, and building corpora does not import torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import admire.proxy

REPO = Path(__file__).resolve().parents[2]


def test_public_names_resolve():
    for name in admire.proxy.__all__:
        assert getattr(admire.proxy, name) is not None, name
    assert sorted(admire.proxy.__all__) == sorted(admire.proxy._EXPORTS)


def test_corpora_users_do_not_import_torch():
    code = ("import sys, admire.proxy as p; p.build_corpora; p.weight_upper_bounds; "
            "import admire.proxy.corpora; print('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"
