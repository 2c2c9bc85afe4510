"""Action openvpn_qr_code: draw a text (an otpauth:// URI) as a QR code PNG on the controller with segno (pure
Python, no Pillow) and put it at `dest` on the task's host with the copy action, so mode, check mode, diff and
idempotence (same text, same PNG bytes) behave as for any copied file. The task must set no_log: the text is secret.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import segno
from ansible import constants as C
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "data": {"type": "str", "required": True, "no_log": True},
    "dest": {"type": "path", "required": True},
    "mode": {"type": "raw", "default": "0600"},
    # Pixels per QR module and quiet-zone width in modules (4 is the standard's minimum).
    "scale": {"type": "int", "default": 8},
    "border": {"type": "int", "default": 4},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        # Error correction M: still readable with some glare or a scratched screen, small enough for 100+ characters.
        qr = segno.make(args["data"], error="m", micro=False)
        local_dir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            png = os.path.join(local_dir, "qr.png")
            qr.save(png, kind="png", scale=args["scale"], border=args["border"])
            copy_task = self._task.copy()
            copy_task.args = {"src": png, "dest": args["dest"], "mode": args["mode"]}
            copy_action = self._shared_loader_obj.action_loader.get(
                "ansible.legacy.copy",
                task=copy_task,
                connection=self._connection,
                play_context=self._play_context,
                loader=self._loader,
                templar=self._templar,
                shared_loader_obj=self._shared_loader_obj,
            )
            result: dict[str, Any] = copy_action.run(task_vars=task_vars)
            return result
        finally:
            shutil.rmtree(local_dir)
            self._remove_tmp_path(self._connection._shell.tmpdir)
