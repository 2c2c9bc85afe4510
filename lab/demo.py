"""The demo's second half: a lab host hardened as the example tenant's bastion, then verified.

The bastion's facts come from the example stack's outputs, evaluated offline exactly as `pulumi up` would
compute them, saved to JSON and read back through the same inventory (plugin) a real user runs against
`pulumi stack output`; only the address Ansible connects to is the lab host's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import hosts, progress, vault
from review.offline import evaluate_stack, stack_config

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "demo"


def ansible_env(
    outputs_file: Path, host: hosts.LabHost, controller_home: Path | None = None
) -> dict[str, str]:
    """Ansible pointed at a lab host as the stack's bastion, through the real inventory; with controller_home, the
    pki role's CA and the VPN profiles (under ~/.secure-tenant) live there instead of in the operator's home."""
    return {
        **os.environ,
        **({"HOME": str(controller_home)} if controller_home else {}),
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
        # The example tenant's TOTP secrets: a secrets file and a throwaway vault password of the demo's own.
        **vault.ThrowawayVault(outputs_file.parent).ansible_env(
            outputs_file.name.removesuffix("-outputs.json")
        ),
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
        "--ansible-inventory=playbooks/inventory/fleet.secure_tenant.yml",
        f"--ssh-identity-file={host.identity_file}",
    ]


def bastion_playbook() -> list[str]:
    """The command a platform engineer runs to harden the bastions (the inventory adds each tenant's VPN clients)."""
    return [
        _venv_tool("ansible-playbook"),
        "-i",
        "playbooks/inventory/fleet.secure_tenant.yml",
        "playbooks/bastion.yml",
    ]


def prepare(stack: str, directory: Path, release: int | None = None) -> tuple[Path, list[str]]:
    """The stack's outputs, evaluated offline (with bastion.osRelease set to `release` when given) and saved where
    the inventory reads them, and the playbook."""
    directory.mkdir(parents=True, exist_ok=True)
    overrides = {}
    if release is not None:
        bastion = json.loads(stack_config(stack).get("secure-tenant:bastion", "{}"))
        overrides["secure-tenant:bastion"] = {**bastion, "osRelease": release}
    outputs = evaluate_stack(stack, overrides).outputs
    outputs_file = directory / f"{stack}-outputs.json"
    outputs_file.write_text(json.dumps(outputs, indent=2))
    return outputs_file, bastion_playbook()


def recap(stdout: str) -> dict[str, int]:
    """The counts of ansible-playbook's PLAY RECAP (one host)."""
    line = stdout.split("PLAY RECAP", 1)[-1]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


@dataclass
class Phase:
    """One step of the demo, its wall time and what it left behind."""

    name: str
    seconds: float
    result: str


@dataclass
class Demo:
    """Runs the demo's phases in order, each streamed with progress and logged under build/demo/."""

    phases: list[Phase] = field(default_factory=list)

    def run(self, name: str, argv: list[str], env: dict[str, str], total_tasks: int = 0) -> progress.Outcome:
        log = BUILD / f"{name.replace(' ', '-')}.log"
        print(f"\n== {name}: {' '.join(argv)}", flush=True)
        outcome = progress.stream(argv, log, progress.Activity(name, total_tasks or None), env=env, cwd=ROOT)
        if not outcome.ok:
            raise DemoFailed(outcome.failure_report(log.relative_to(ROOT)))
        print(
            f"== {name}: done in {progress.elapsed(outcome.seconds)} (whole output: {log.relative_to(ROOT)})"
        )
        return outcome

    def timed(self, name: str, seconds: float, result: str) -> None:
        self.phases.append(Phase(name, round(seconds, 1), result))

    def summary(self) -> str:
        rows = [
            f"  {phase.name:24} {progress.elapsed(phase.seconds):>6}  {phase.result}" for phase in self.phases
        ]
        total = sum(phase.seconds for phase in self.phases)
        return "\n".join(["", "Demo summary", *rows, f"  {'total':24} {progress.elapsed(total):>6}"])


class DemoFailed(Exception):
    """A phase failed; the message names the failing task and the log."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="acme-prod")
    parser.add_argument("--keep", action="store_true", help="leave the lab host running afterwards")
    parser.add_argument(
        "--release", type=int, help="the bastion's Debian release (bastion.osRelease), else the stack's own"
    )
    parser.add_argument(
        "--install-seconds", type=float, help="wall time of `make deps` before the demo (for the summary)"
    )
    parser.add_argument(
        "--bastion-only",
        action="store_true",
        help="only converge the bastion twice and verify it (no preview, no evidence report): `make test`'s run",
    )
    parser.add_argument(
        "--controller-home",
        type=Path,
        help="the controller's home for this run: the tenant CA and VPN profiles go to DIR/.secure-tenant, apart "
        "from the operator's (~/.secure-tenant, shared by every `make demo` on this machine)",
    )
    args = parser.parse_args(argv)
    print(
        "The demo: an offline preview of the example stack, then a lab host hardened as its bastion and verified.\n"
        "On a fresh machine it takes about 10-15 minutes (the lab's root file system once, then two converges);\n"
        f"every step's whole output is kept in {BUILD.relative_to(ROOT)}/."
    )
    demo = Demo()
    if args.install_seconds is not None:
        demo.timed("install", args.install_seconds, "Debian packages and .venv from requirements.lock")
    try:
        run_demo(demo, args.stack, args.keep, args.release, args.bastion_only, args.controller_home)
    except (DemoFailed, hosts.LabError) as error:
        print(demo.summary())
        print(f"\ndemo: {error}", file=sys.stderr)
        return 1
    print(demo.summary())
    return 0


def run_demo(
    demo: Demo,
    stack: str,
    keep: bool,
    release: int | None = None,
    bastion_only: bool = False,
    controller_home: Path | None = None,
) -> None:
    if not bastion_only:
        review = ROOT / "build" / f"{stack}-review.md"
        started = time.monotonic()
        preview = demo.run(
            "preview",
            [_venv_tool("secure-tenant-preview"), "--stack", stack, "--markdown", str(review)],
            {**os.environ},
        )
        print(preview.output)
        demo.timed(
            "preview",
            time.monotonic() - started,
            f"offline preview and policy pack: {review.relative_to(ROOT)}",
        )

    # The lab host runs the Debian release the stack's bastion would boot.
    outputs_file, playbook = prepare(stack, BUILD, release)
    os_release = str(json.loads(outputs_file.read_text())["bastionImage"]["osRelease"])
    started = time.monotonic()
    rootfs = hosts.ensure_rootfs(os_release)
    demo.timed(
        "lab root file system", time.monotonic() - started, f"Debian {os_release} for lab hosts: {rootfs}"
    )

    host = hosts.create(f"{stack}-bastion", os_release)
    print(f"lab host {host.lab_id} booted at {host.address} (Debian {os_release}) as the bastion of {stack}")
    if controller_home:
        controller_home = controller_home.resolve()
        controller_home.mkdir(parents=True, exist_ok=True)
    env = ansible_env(outputs_file, host, controller_home)
    try:
        tasks = progress.count_tasks(playbook, env, ROOT)
        first = demo.run("first converge", playbook, env, tasks)
        demo.timed("first converge", first.seconds, f"playbooks/bastion.yml, {_recap_text(first.output)}")
        second = demo.run("second converge", playbook, env, tasks)
        if recap(second.output).get("changed") != 0:
            raise DemoFailed(
                "the second converge changed something (see build/demo/second-converge.log): "
                "the roles are not idempotent"
            )
        demo.timed("re-run", second.seconds, f"no change: {_recap_text(second.output)}")
        verify = demo.run("verify", verify_command(host), env)
        demo.timed(
            "verify", verify.seconds, f"tests/bastion on the host: {verify.output.strip().splitlines()[-1]}"
        )
    finally:
        if not keep:
            hosts.destroy(host.lab_id)
    if bastion_only:
        return
    evidence = demo.run("evidence report", [sys.executable, "-m", "evidence.report"], {**os.environ})
    demo.timed("evidence report", evidence.seconds, evidence.output.strip().splitlines()[-1])


def _recap_text(output: str) -> str:
    counts = recap(output)
    return ", ".join(f"{key}={counts.get(key, 0)}" for key in ("ok", "changed", "failed"))


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


if __name__ == "__main__":
    sys.exit(main())
