"""The fresh-machine smoke test: the README's install path run on a Debian machine that has nothing.

A warm machine hides a missing install step (a cached lab root file system once hid a `make demo` that failed on
every fresh machine). A lab host is such a fresh machine: this copies the checkout into one, installs the README's
prerequisites (git, make) and runs `make preview`, which installs the Debian packages (scripts/apt-deps) and the
virtualenv from requirements.lock before it previews the example stack. A missing apt package or pip pin fails it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from lab import hosts, progress
from lab.checkout import checkout_files

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "build" / "smoke"
CHECKOUT = "secure-tenant"
# What README.md asks a newcomer to have before its two commands.
PREREQUISITES = ("git", "make")
# How this machine reaches the registries (its image sets them; the lab host trusts the same CAs): handed on,
# so the fresh machine is one of this kind, not one that cannot reach PyPI at all.
REGISTRY_ENV = (
    "PIP_CERT",
    "PIP_INDEX_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
)


def copy_checkout(host: hosts.LabHost) -> None:
    """tar the checkout over SSH into the admin user's home, as a person would copy a clone."""
    tar = subprocess.Popen(
        ["tar", "-c", "--null", "-T", "-", "-f", "-"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert tar.stdin is not None
    tar.stdin.write("\0".join(checkout_files(ROOT)).encode())
    tar.stdin.close()
    subprocess.run(
        hosts.ssh_command(host, f"mkdir -p {CHECKOUT} && tar -x -C {CHECKOUT} -f -"),
        stdin=tar.stdout,
        check=True,
    )
    if tar.wait() != 0:
        raise hosts.LabError("tar of the checkout failed")


def steps() -> list[tuple[str, str]]:
    """The newcomer's commands, as root (sudo) in the copied checkout."""
    registry = " ".join(
        shlex.quote(f"{name}={os.environ[name]}") for name in REGISTRY_ENV if name in os.environ
    )
    install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " + " ".join(
        PREREQUISITES
    )
    return [
        ("prerequisites", f"sudo sh -c {shlex.quote(install)}"),
        ("make preview", f"cd {CHECKOUT} && sudo env {registry} make preview"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the host running afterwards")
    # Debian 12 by default: its python3 is the project's Python 3.11; Debian 13 has 3.13 only, which
    # scripts/apt-deps refuses with a clear message (README, "Debian 13 as the controller").
    parser.add_argument(
        "--release", default="12", choices=sorted(hosts.RELEASES), help="the fresh machine's Debian release"
    )
    args = parser.parse_args(argv)
    print("fresh-machine smoke: the README's install path on a new lab host (a few minutes)", flush=True)
    try:
        host = hosts.create("fresh-machine", args.release)
    except hosts.LabError as error:
        print(f"fresh-machine smoke: {error}", file=sys.stderr)
        return 1
    try:
        copy_checkout(host)
        for name, command in steps():
            log = LOG_DIR / f"{name.replace(' ', '-')}.log"
            outcome = progress.stream(
                hosts.ssh_command(host, command), log, progress.Activity(f"smoke: {name}")
            )
            if not outcome.ok:
                print(
                    f"fresh-machine smoke: {outcome.failure_report(log.relative_to(ROOT))}", file=sys.stderr
                )
                return 1
            progress.PRINTER.line(f"smoke: {name} passed in {progress.elapsed(outcome.seconds)}")
    finally:
        if not args.keep:
            hosts.destroy(host.lab_id)
    print("fresh-machine smoke: passed (apt packages, .venv from requirements.lock, offline preview)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
