"""`make bench`: how fast the reviewer's preview, a first converge and the no-change re-run are.

Every figure sits next to its floor measured in the same run, so it reads as a ratio:
- offline preview (2 and 3 zones) vs a bare `import pulumi_aws`, median of N runs, with peak memory;
- the offline fleet preview of generated tenant stacks (target: 100 stacks under 90 s on 2 cores), next to one
  process per stack as before it (measured on a few stacks, scaled to the fleet) and to one process without workers;
- first converge of playbooks/bastion.yml on a fresh lab host (target 180 s) vs its floor: one `apt-get install` of
  what it installed plus the key and database generation it cannot avoid (AIDE's initial database, the PKI's
  keys), and before/after its one-transaction pre-install (one apt run per role instead);
- the no-change re-run (target 40 s, changed=0; the median of N re-runs, each of which must change nothing: one
  re-run on this shared machine swings by a third) vs its floor, fact gathering plus one `ansible -m ping` per role;
  both converges run on Mitogen's mitogen_linear strategy (ansible.cfg's default), and the re-run again on the
  documented fallback, Ansible's linear strategy over plain SSH (and with SSH pipelining off, as before);
- tasks and seconds per task of the re-run and its 10 slowest tasks (profile_tasks); the ratios to dev-sec's
  os_hardening + ssh_hardening, a fixed reference measured on this kind of machine;
- the last `make test` of this checkout (target 15 minutes) vs its floor, the CPU time it took over the cores
  (its record, build/make-test.json: the run takes longer than the rest of the bench, so it is not repeated here).
Writes a table to stdout and build/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from fleet import tenants
from lab import demo, hosts, progress
from lab.checkout import copy_checkout

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
ANSIBLE = str(Path(sys.executable).parent / "ansible")
# A fixed reference, measured once on this kind of machine (2 cores, ansible-core 2.19.14, pipelining on, a fresh
# lab host): dev-sec's os_hardening + ssh_hardening, 131 tasks on the re-run. Our ratio to it shows whether a change
# added round trips; "seconds per task" shows whether it made each one dearer.
FLEET_TARGET_S = 90.0
DEV_SEC_RERUN_TASKS = 131 + 60  # ok + skipped
DEV_SEC = {
    "first converge": 118.6,
    "no-change re-run": 95.5,
    "re-run seconds per task": round(95.5 / DEV_SEC_RERUN_TASKS, 2),
}
# Issue 23's targets for playbooks/bastion.yml on a fresh lab host; each is printed next to its floor.
FIRST_CONVERGE_TARGET_S = 180.0
RERUN_TARGET_S = 40.0
MAKE_TEST_TARGET_S = 900.0
MAKE_TEST_RECORD = ROOT / "build" / "make-test.json"


def timed_child(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MiB), output and CPU seconds (its own and its workers') of one child process;
    fails the bench if the child fails. On a shared machine the CPU seconds are the figure others cannot move."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output, usage.ru_utime + usage.ru_stime


def streamed(label: str, argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and output of a long child (a converge), its progress shown while it runs."""
    log = OUT / f"{label.replace(' ', '-')}.log"
    outcome = progress.stream(argv, log, progress.Activity(f"bench: {label}"), env=env, cwd=ROOT)
    if not outcome.ok:
        raise SystemExit(f"bench: {outcome.failure_report(log.relative_to(ROOT))}")
    return outcome.seconds, outcome.output


def measure(argv: list[str], runs: int) -> dict[str, float]:
    samples = [timed_child(argv)[:2] for _ in range(runs)]
    return {
        "median_s": round(statistics.median(s for s, _ in samples), 2),
        "min_s": round(min(s for s, _ in samples), 2),
        "peak_mib": round(max(m for _, m in samples), 1),
        "runs": runs,
    }


def bench_preview(runs: int) -> dict[str, Any]:
    python = sys.executable
    # pulumi_aws loads a resource class (and its large input types) on first use; the classes the stack declares
    # are loaded by any program that declares them, so loading just those is a second, fairer floor. Listed by
    # a child process, so this process's memory does not count in the children's peak.
    listing = "from review.offline import evaluate_stack; print(*{r.type for r in evaluate_stack('acme-prod').resources})"
    classes = sorted(
        (token.split(":")[1].split("/")[0], token.rsplit(":", 1)[1])
        for token in timed_child([python, "-c", listing])[2].split()
        if token.startswith("aws:")
    )
    load_classes = "import pulumi_aws\n" + "".join(
        f"pulumi_aws.{module}.{name}\n" for module, name in classes
    )
    results = {
        "import pulumi_aws (floor)": measure([python, "-c", "import pulumi_aws"], runs),
        f"load the {len(classes)} pulumi_aws classes used (floor)": measure(
            [python, "-c", load_classes], runs
        ),
    }
    for zones in (2, 3):
        results[f"preview {zones} zones"] = measure(
            [python, "-m", "review.preview", "--stack", "acme-prod", "--set", f"secure-tenant:zones={zones}"],
            runs,
        )
    return results


def generated_fleet(root: Path, stacks: int) -> list[str]:
    """A copy of this checkout with `stacks` generated tenant stacks beside acme's: tenants of prod and preprod,
    written by the same code as `secure-tenant tenant new`, prod in three zones in Ireland, preprod in two in
    Frankfurt (regions alternate so both providers' zones are exercised)."""
    copy_checkout(ROOT, root)
    regions = ("eu-west-1", "eu-central-1")
    for number in range((stacks + 1) // 2):
        environments = ["prod", "preprod"][: min(2, stacks - 2 * number)]
        tenants.new_tenant(f"t{number:03d}", environments, regions[number % 2], 3 - number % 2, root=root)
    return [s.stack for s in tenants.stack_files(root) if s.tenant != "acme"]


def bench_fleet(stacks: int, runs: int) -> dict[str, Any]:
    python = sys.executable
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="secure-tenant-fleet-") as directory:
        root = Path(directory)
        generated = generated_fleet(root, stacks)
        fleet = [python, "-m", "fleet.cli", "fleet", "preview", "--offline"]
        # `python -m` in the copy runs the copy's code, with its tenants/ and stack files.
        selection = [
            arg for name in sorted({n.split("-")[0] for n in generated}) for arg in ("--tenant", name)
        ]
        seconds, peak, output, cpu = timed_child([*fleet, *selection], cwd=root)
        counted = re.search(r"^(\d+) stacks in [\d.]+s .*: (\d+) pass", output, re.MULTILINE)
        if not counted or int(counted[1]) != len(generated) or int(counted[2]) != len(generated):
            raise SystemExit(
                f"bench: the fleet preview did not pass {len(generated)} stacks:\n{output[-3000:]}"
            )
        results[f"fleet preview, {len(generated)} stacks, {os.cpu_count()} workers"] = {
            "seconds": round(seconds, 1),
            "per_stack_s": round(seconds / len(generated), 2),
            "cpu_s": round(cpu, 1),
            "target_s": FLEET_TARGET_S,
            "peak_mib": round(peak, 1),
        }
        sequential, _, _, cpu = timed_child([*fleet, *selection, "--parallel", "1"], cwd=root)
        results[f"fleet preview, {len(generated)} stacks, one process, no workers"] = {
            "seconds": round(sequential, 1),
            "per_stack_s": round(sequential / len(generated), 2),
            "cpu_s": round(cpu, 1),
        }
        # Before: one secure-tenant-preview process per stack, each loading pulumi_aws again.
        sample = generated[:runs]
        each = [timed_child([python, "-m", "review.preview", "--stack", name], cwd=root) for name in sample]
        per_stack, cpu = statistics.median(e[0] for e in each), statistics.median(e[3] for e in each)
        results[f"one preview process per stack (before; median of {len(sample)}, x {len(generated)})"] = {
            "seconds": round(per_stack * len(generated), 1),
            "per_stack_s": round(per_stack, 2),
            "cpu_s": round(cpu * len(generated), 1),
        }
    return results


def installed_packages(host: hosts.LabHost) -> set[str]:
    return set(timed_child(hosts.ssh_command(host, "dpkg-query", "-W", "-f='${Package}\\n'"))[2].split())


def ansible_env(
    outputs: Path,
    host: hosts.LabHost,
    operator_home: Path,
    pipelining: bool = True,
    strategy: str = "mitogen_linear",
) -> dict[str, str]:
    """The demo's Ansible environment, with a fresh operator home per bench host (its own CA and VPN profiles, so a
    first converge generates every key, and the operator's ~/.secure-tenant is left alone) and profile_tasks; the
    strategy is named even where it is ansible.cfg's own, so an edited ansible.cfg cannot swap what is measured."""
    return {
        **demo.ansible_env(outputs, host, operator_home),
        "ANSIBLE_PIPELINING": str(pipelining),
        "ANSIBLE_STRATEGY": strategy,
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "10",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def slowest_tasks(stdout: str) -> list[str]:
    tail = stdout.split("PLAY RECAP", 1)[-1]
    return [line.strip() for line in tail.splitlines() if re.search(r"-{3,} \d+\.\d+s$", line.strip())][:10]


def bastion_roles() -> int:
    """How many roles playbooks/bastion.yml runs: the re-run's floor is one round trip per role."""
    plays = yaml.safe_load((ROOT / "playbooks" / "bastion.yml").read_text())
    return sum(len(play.get("roles", [])) for play in plays)


def converge(label: str, playbook: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One converge: wall seconds, its PLAY RECAP counts and its slowest tasks."""
    seconds, stdout = streamed(label, playbook, env)
    counts = demo.recap(stdout)
    return {
        "seconds": round(seconds, 1),
        "changed": counts.get("changed", -1),
        "ok": counts.get("ok", 0),
        "skipped": counts.get("skipped", 0),
        # ok counts the changed tasks too.
        "tasks": counts.get("ok", 0) + counts.get("skipped", 0),
        "slowest": slowest_tasks(stdout),
        "runs": [round(seconds, 1)],
    }


def median_converge(label: str, playbook: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """The same converge `runs` times: the middle run by seconds, with every run's seconds and the most any changed."""
    samples = [converge(f"{label} {number}", playbook, env) for number in range(1, runs + 1)]
    middle = sorted(samples, key=lambda run: run["seconds"])[len(samples) // 2]
    return {
        **middle,
        "changed": max(run["changed"] for run in samples),
        "runs": [run["seconds"] for run in samples],
    }


def generation_floors(host: hosts.LabHost, operator_home: Path) -> dict[str, float]:
    """What a first converge cannot avoid besides apt: the AIDE database of the converged host, built again into a
    scratch file, and the PKI's private keys (the CA's and one per certificate), generated again on this machine."""
    # The role's aide.conf with the output database moved aside, so the host's baseline is left as it is.
    aide = hosts.ssh_command(
        host,
        "sudo",
        "sh",
        "-c",
        "'sed s#^database_out=.*#database_out=file:/var/tmp/bench-aide.db# /etc/aide/aide.conf >/var/tmp/bench-aide.conf"
        " && aide --init --config /var/tmp/bench-aide.conf >/dev/null && rm /var/tmp/bench-aide.conf /var/tmp/bench-aide.db'",
    )
    keys = sorted(operator_home.glob(".secure-tenant/pki/*/private/*.key"))
    ca_keys = sorted(operator_home.glob(".secure-tenant/pki/*/ca.key"))

    def rsa(bits: int) -> float:
        return timed_child(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"]
        )[0]

    return {
        "AIDE initial database (floor)": round(timed_child(aide)[0], 1),
        f"PKI keys: {len(ca_keys)} CA RSA-4096 + {len(keys)} RSA-2048 (floor)": round(
            sum(rsa(4096) for _ in ca_keys) + sum(rsa(2048) for _ in keys), 1
        ),
    }


@contextmanager
def fresh_host(name: str) -> Iterator[tuple[hosts.LabHost, Path]]:
    """A new lab host and an empty operator home of its own, both gone afterwards."""
    host = hosts.create(name)
    try:
        with tempfile.TemporaryDirectory(prefix="secure-tenant-bench-home-") as home:
            yield host, Path(home)
    finally:
        hosts.destroy(host.lab_id)


def bench_lab(runs: int, quick: bool) -> dict[str, Any]:
    """The lab figures; `quick` leaves out the before-figures (pipelining off, one apt run per role) and verify."""
    outputs, playbook = demo.prepare("acme-prod", OUT)
    results: dict[str, Any] = {}

    with fresh_host("bench-bastion") as (host, operator_home):
        env = ansible_env(outputs, host, operator_home)
        results["first converge"] = converge("first converge", playbook, env)
        results["no-change re-run"] = median_converge("second converge", playbook, env, runs)
        results["no-change re-run, plain SSH (fallback)"] = converge(
            "second converge, plain SSH",
            playbook,
            ansible_env(outputs, host, operator_home, strategy="linear"),
        )
        if not quick:
            results["no-change re-run, plain SSH, pipelining off (before)"] = converge(
                "second converge, pipelining off",
                playbook,
                ansible_env(outputs, host, operator_home, pipelining=False, strategy="linear"),
            )
            results["verify"] = round(timed_child(demo.verify_command(host), env)[0], 1)
        results |= generation_floors(host, operator_home)
        converged_packages = installed_packages(host)

    if not quick:
        with fresh_host("bench-per-role-packages") as (host, operator_home):
            # Before the one-transaction pre-install: each role installs its own packages.
            results["first converge, one apt run per role (before)"] = converge(
                "first converge, one apt run per role",
                [*playbook, "--skip-tags", "packages"],
                ansible_env(outputs, host, operator_home),
            )

    with fresh_host("bench-floor") as (floor_host, operator_home):
        env = ansible_env(outputs, floor_host, operator_home)
        inventory = ["-i", "playbooks/inventory/fleet.secure_tenant.yml", "bastions"]
        ping = [timed_child([ANSIBLE, *inventory, "-m", "ansible.builtin.ping"], env)[0] for _ in range(runs)]
        facts = [
            timed_child([ANSIBLE, *inventory, "-m", "ansible.builtin.setup"], env)[0] for _ in range(runs)
        ]
        results["ansible -m ping (floor)"] = round(statistics.median(ping), 2)
        results["fact gathering (floor)"] = round(statistics.median(facts), 2)
        # The least a first converge can cost: what it installed, in one apt-get run on a fresh host.
        added = sorted(converged_packages - installed_packages(floor_host))
        apt = hosts.ssh_command(
            floor_host,
            "sudo",
            "sh",
            "-c",
            "'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
            f" --no-install-recommends {' '.join(added)} >/dev/null'",
        )
        results["apt-get install of what the converge added (floor)"] = round(timed_child(apt)[0], 1)
        results["packages added by the converge"] = len(added)
    return results


def row(name: str, value: object, note: str) -> str:
    return f"{name:40} {value!s:>8}  {note}"


def verdict(seconds: float, target: float) -> str:
    return f"target {target:g} s, {'met' if seconds <= target else 'NOT met'}"


def make_test_target(record: Path = MAKE_TEST_RECORD) -> str:
    """Target 3 from the record lab.cputime wrote for the last `make test`, next to its floor."""
    try:
        run = json.loads(record.read_text())
        floor = run["cpu_busy_seconds"] / run["cores"]
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return row("make test (s)", "-", f"no readable {record.name}: run `make test` first")
    return row(
        "make test (s)",
        run["seconds"],
        f"{verdict(run['seconds'], MAKE_TEST_TARGET_S)}; floor {floor:.0f} s = CPU busy {run['cpu_busy_seconds']} s"
        f" / {run['cores']} cores; {'passed' if run['passed'] else 'FAILED'}, {run['finished_at']},"
        f" commit {run['commit']}",
    )


def targets(lab: dict[str, Any]) -> list[str]:
    """The issue-23 targets, each next to its floor from the same run, the per-task cost and dev-sec's figures."""
    roles = bastion_roles()
    ping, facts = lab["ansible -m ping (floor)"], lab["fact gathering (floor)"]
    apt = lab["apt-get install of what the converge added (floor)"]
    generation = {name: value for name, value in lab.items() if name.startswith(("AIDE", "PKI keys"))}
    first_floor = apt + sum(generation.values())
    first, rerun = lab["first converge"], lab["no-change re-run"]
    lines = [
        row(
            "first converge (s)",
            first["seconds"],
            f"{verdict(first['seconds'], FIRST_CONVERGE_TARGET_S)}; floor {first_floor:.1f} s = apt {apt} s"
            + "".join(f" + {name.removesuffix(' (floor)')} {value} s" for name, value in generation.items()),
        ),
    ]
    reruns = {name: run for name, run in lab.items() if name.startswith("no-change re-run")}
    for name, run in reruns.items():
        lines += [
            row(
                f"{name} (s)",
                run["seconds"],
                f"{verdict(run['seconds'], RERUN_TARGET_S)}, changed={run['changed']};"
                + (
                    f" median of {len(run['runs'])} runs ({min(run['runs'])}-{max(run['runs'])} s);"
                    if len(run["runs"]) > 1
                    else ""
                )
                + f" floor {facts + roles * ping:.1f} s = facts {facts} s + {roles} roles x ping {ping} s",
            ),
            row(
                f"{name} (tasks)",
                run["tasks"],
                f"{run['ok']} ok, {run['skipped']} skipped; {run['seconds'] / run['tasks']:.2f} s per task"
                f" (dev-sec {DEV_SEC['re-run seconds per task']})",
            ),
        ]
    reference = "dev-sec os_hardening + ssh_hardening, fixed reference"
    lines += [
        row(
            "first converge / dev-sec",
            f"{first['seconds'] / DEV_SEC['first converge']:.2f}",
            f"{reference}: {DEV_SEC['first converge']} s",
        ),
        row(
            "re-run / dev-sec",
            f"{rerun['seconds'] / DEV_SEC['no-change re-run']:.2f}",
            f"{reference}: {DEV_SEC['no-change re-run']} s, {DEV_SEC_RERUN_TASKS} tasks",
        ),
    ]
    return lines


def print_lab(lab: dict[str, Any]) -> None:
    print(f"\n{'lab (playbooks/bastion.yml, one fresh lab host)':40}")
    print("\n".join(targets(lab)))
    for name, value in lab.items():
        if isinstance(value, dict):
            print(
                f"{name}: {value['seconds']} s, changed={value['changed']}, {value['tasks']} tasks; slowest:"
            )
            print("\n".join(f"  {task}" for task in value["slowest"]))
        else:
            print(f"{name:48} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-lab", action="store_true", help="only the preview figures")
    parser.add_argument("--lab-only", action="store_true", help="only the lab figures")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="lab: leave out the before-figures and verify (targets and floors only)",
    )
    parser.add_argument("--fleet-stacks", type=int, default=100, help="generated stacks of the fleet preview")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if not args.lab_only:
        results["preview"] = bench_preview(args.runs)
        results["fleet"] = bench_fleet(args.fleet_stacks, args.runs)
    if not args.skip_lab:
        results["lab"] = bench_lab(args.runs, args.quick)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    if "preview" in results:
        print(f"\n{'preview':48} {'median s':>9} {'min s':>7} {'peak MiB':>9}")
        for name, figures in results["preview"].items():
            print(f"{name:48} {figures['median_s']:>9} {figures['min_s']:>7} {figures['peak_mib']:>9}")
        print(f"\n{'fleet preview (offline)':64} {'seconds':>8} {'per stack':>10} {'CPU s':>7}")
        for name, figures in results["fleet"].items():
            target = f"  (target {figures['target_s']:g} s)" if "target_s" in figures else ""
            print(
                f"{name:64} {figures['seconds']:>8} {figures['per_stack_s']:>10} {figures['cpu_s']:>7}{target}"
            )
    if "lab" in results:
        print_lab(results["lab"])
    print(f"\n{make_test_target()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
