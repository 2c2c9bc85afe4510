"""The files of a checkout as a clone would have them: tracked ones, plus new ones git does not ignore.

Standard library only: lab/vault.py, which Ansible also runs as a plain script, uses it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def checkout_files(root: Path, *patterns: str) -> list[str]:
    """Names (relative to `root`) of the regular files git sees, optionally only those matching `patterns`."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard", *patterns],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def copy_checkout(root: Path, target: Path) -> None:
    """A copy of the checkout's files in `target`, links kept as links (the root stack files link into tenants/)."""
    for name in checkout_files(root):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name, follow_symlinks=False)
