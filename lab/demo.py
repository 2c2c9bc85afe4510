"""The demo's second half: a lab host hardened as the example tenant's bastion, then verified.

The bastion's facts come from the example stack's outputs, evaluated offline exactly as `pulumi up` would
compute them, saved to JSON and read back through the same inventory script a real user runs against
`pulumi stack output`; only the address Ansible connects to is the lab host's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from infra.offline import evaluate_stack
from lab import hosts

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "demo"


def ansible_env(outputs_file: Path, host: hosts.LabHost) -> dict[str, str]:
    """Ansible pointed at a lab host as the stack's bastion, through the real inventory script."""
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "SECURE_TENANT_STACK_OUTPUTS": str(outputs_file),
        "SECURE_TENANT_BASTION_HOST": host.address,
        # This machine manages the lab host over the lab link, not through the VPN: let its SSH in.
        "SECURE_TENANT_MANAGEMENT_CIDRS": f"{host.gateway}/32",
        "ANSIBLE_PRIVATE_KEY_FILE": host.identity_file,
        "ANSIBLE_REMOTE_USER": hosts.ADMIN_USER,
        # Lab hosts are throwaway and their addresses are reused: their keys are not worth remembering. A real
        # bastion's host key is checked (ansible.cfg leaves host key checking on). testinfra reads the common
        # args, not the host key setting.
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_SSH_COMMON_ARGS": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
    }


def verify_command(host: hosts.LabHost) -> list[str]:
    """tests/bastion run by testinfra against the bastion, found through the same inventory."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/bastion",
        "--hosts=ansible://bastions",
        "--ansible-inventory=playbooks/inventory/pulumi_stack.py",
        f"--ssh-identity-file={host.identity_file}",
    ]


def bastion_playbook(tenant: str) -> list[str]:
    """The command a platform engineer runs to harden the tenant's bastion, with the tenant's VPN clients."""
    clients = Path("tenants") / tenant / "vpn-clients.yml"
    return [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "playbooks/inventory/pulumi_stack.py",
        "playbooks/bastion.yml",
        *(["-e", f"@{clients}"] if (ROOT / clients).is_file() else []),
    ]


def prepare(stack: str, directory: Path) -> tuple[Path, list[str]]:
    """The stack's outputs, evaluated offline and saved where the inventory script reads them, and the playbook."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs = evaluate_stack(stack).outputs
    outputs_file = directory / f"{stack}-outputs.json"
    outputs_file.write_text(json.dumps(outputs, indent=2))
    return outputs_file, bastion_playbook(outputs["tenant"])


def recap(stdout: str) -> dict[str, int]:
    """The counts of ansible-playbook's PLAY RECAP (one host)."""
    line = stdout.split("PLAY RECAP", 1)[-1]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def _timed(label: str, argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    print(f"\n== {label}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    completed = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = round(time.monotonic() - started, 1)
    log = BUILD / f"{label.replace(' ', '-')}.log"
    log.write_text(completed.stdout + completed.stderr)
    print(completed.stdout[-6000:], flush=True)
    if completed.returncode != 0:
        print(completed.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"demo: {label} failed after {seconds}s (whole output: {log.relative_to(ROOT)})")
    print(f"== {label}: {seconds}s (whole output: {log.relative_to(ROOT)})", flush=True)
    return seconds, completed.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="acme-prod")
    parser.add_argument("--keep", action="store_true", help="leave the lab host running afterwards")
    args = parser.parse_args(argv)

    outputs_file, playbook = prepare(args.stack, BUILD)
    print(f"stack outputs of {args.stack} (offline) saved to {outputs_file.relative_to(ROOT)}")

    host = hosts.create(f"{args.stack}-bastion")
    print(f"lab host {host.lab_id} booted at {host.address}")
    env = ansible_env(outputs_file, host)
    try:
        first, _ = _timed("first converge", playbook, env)
        second, output = _timed("second converge", playbook, env)
        if recap(output).get("changed") != 0:
            raise SystemExit(
                "demo: the second converge changed something (see build/demo/second-converge.log): "
                "the roles are not idempotent"
            )
        verify, _ = _timed("verify", verify_command(host), env)
        print(
            f"\nbastion hardened and verified: first converge {first}s, second (changed=0) {second}s, verify {verify}s"
        )
    finally:
        if not args.keep:
            hosts.destroy(host.lab_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
