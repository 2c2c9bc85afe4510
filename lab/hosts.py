"""Throwaway Debian lab hosts (12 or 13) booted with systemd-nspawn.

One cached debootstrap root file system; every host is a copy of it with its own /24 in 10.77.0.0/16,
its own veth link, and the lab SSH key. Hosts are keyed by a lab id so that several molecule scenarios,
each naming its platform freely, can run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.apt_sources import debian_mirror

STATE_DIR = Path(os.environ.get("SECURE_TENANT_LAB_DIR", "/var/lib/secure-tenant-lab"))
# Addresses, link names and the NAT table belong to the machine, not to one state directory (CI runs with a
# fresh one beside a developer's): their claims live in /run, which a reboot empties along with the hosts.
RUN_DIR = Path(os.environ.get("SECURE_TENANT_LAB_RUN_DIR", "/run/secure-tenant-lab"))
LAB_NETWORK = "10.77.0.0/16"
NAT_TABLE = "secure_tenant_lab"
# Like Debian's cloud images: systemd, sshd, python3 for Ansible, sudo for the admin user, the CA bundle.
ROOTFS_PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,sudo,ca-certificates"
# Debian releases a lab host can run, by version. The default is Debian's stable release, as a new bastion's is in
# the stack (bastion.osRelease); SECURE_TENANT_LAB_RELEASE=12 runs everything on oldstable instead.
RELEASES = {"12": "bookworm", "13": "trixie"}
DEFAULT_RELEASE = os.environ.get("SECURE_TENANT_LAB_RELEASE", "13")
# CAs this machine trusts beyond Debian's bundle (e.g. an egress proxy's): lab hosts sit on the same network.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
HOST_TOOLS = ("systemd-nspawn", "debootstrap", "nft", "ssh", "ssh-keygen")
# A busy 2-core machine (several scenarios booting at once) has been seen to need more than 90 s.
BOOT_TIMEOUT_S = 180
MAX_SLOTS = 250
ADMIN_USER = "admin"
# When set, destroy() appends each host's CPU seconds to this file (a JSON line per host) before its cgroup goes:
# the molecule pool sets one per job, to add the job's hosts to the CPU time of the job's own processes.
CPU_RECORD_ENV = "SECURE_TENANT_LAB_CPU_RECORD"


class LabError(RuntimeError):
    """A lab host could not be created or reached; the message says what to do."""


@dataclass(frozen=True)
class LabHost:
    """What a client needs to reach a running lab host over SSH."""

    lab_id: str
    hostname: str
    address: str
    gateway: str
    user: str
    port: int
    identity_file: str
    pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _run(*argv: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, text=True, capture_output=capture)


@contextlib.contextmanager
def _lab_lock(name: str = ".lock") -> Iterator[None]:
    """Serialise changes to shared lab state across processes: `.lock` for slots and the NAT table, one lock per
    root file system for its build (a debootstrap of one release must not hold up the boots of the other's hosts)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def check_host_tools() -> None:
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"missing on this machine: {', '.join(missing)}; run `make deps` "
            "(scripts/apt-deps installs debootstrap, systemd-container, nftables and openssh-client)"
        )


def ssh_key() -> Path:
    """The lab's own SSH key pair, created once."""
    key = STATE_DIR / "id_ed25519"
    if not key.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "secure-tenant-lab", "-f", str(key))
    return key


def suite_of(release: str) -> str:
    """The Debian suite of a release given as a version ("13") or a codename ("trixie")."""
    if release in RELEASES.values():
        return release
    if release not in RELEASES:
        raise LabError(f"unknown Debian release {release!r}: the lab boots {', '.join(RELEASES)}")
    return RELEASES[release]


def ensure_rootfs(release: str = DEFAULT_RELEASE) -> Path:
    """Build the cached root file system of a release once (about a minute), reuse it afterwards."""
    suite = suite_of(release)
    with _lab_lock(f".rootfs-{suite}.lock"):
        return _build_rootfs(suite)


def rootfs_path(suite: str) -> Path:
    """The cached root file system, named after what it was built from: a change of suite or packages
    builds a new one instead of silently reusing the old (and never pulls one from under a running copy)."""
    recipe = hashlib.sha256(f"{suite} {ROOTFS_PACKAGES}".encode()).hexdigest()[:10]
    return STATE_DIR / f"rootfs-{suite}-{recipe}"


def _build_rootfs(suite: str) -> Path:
    rootfs = rootfs_path(suite)
    if (rootfs / ".complete").exists():
        return rootfs
    building = rootfs.with_name(rootfs.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    _run(
        "debootstrap",
        "--variant=minbase",
        f"--include={ROOTFS_PACKAGES}",
        suite,
        str(building),
        debian_mirror(suite),
    )
    _run("chroot", str(building), "systemctl", "enable", "systemd-networkd", "ssh")
    shutil.rmtree(building / "var/cache/apt/archives", ignore_errors=True)
    (building / "var/cache/apt/archives/partial").mkdir(parents=True)
    (building / ".complete").touch()
    shutil.rmtree(rootfs, ignore_errors=True)
    building.rename(rootfs)
    return rootfs


def _link_in_use(index: int) -> bool:
    return Path(f"/sys/class/net/ve-st{index}").exists()


def _claim_slot() -> int:
    """The next free slot after the last one claimed, round the ring.

    Taking the lowest free slot would hand a just-destroyed host's address to the next host within seconds, while
    SSH clients still hold a multiplexed connection (ControlPersist) and a known key for that address: the new
    host's first commands would go to a connection to the dead one. Going round the ring keeps addresses apart.
    """
    slots = RUN_DIR / "slots"
    slots.mkdir(parents=True, exist_ok=True)
    last_claimed = RUN_DIR / "last-slot"
    last = int(last_claimed.read_text()) if last_claimed.exists() else 0
    for step in range(1, MAX_SLOTS + 1):
        index = (last + step - 1) % MAX_SLOTS + 1
        if _link_in_use(index):
            continue  # a host booted by a lab that keeps its claims elsewhere (an older checkout) holds it
        try:
            (slots / str(index)).mkdir()
        except FileExistsError:
            continue
        last_claimed.write_text(str(index))
        return index
    raise LabError(f"all {MAX_SLOTS} lab slots are taken; run `secure-tenant-lab gc` to free dead hosts")


def _unified_cgroup_mount() -> Path:
    """Where this machine mounts the cgroup v2 hierarchy: /sys/fs/cgroup, or its `unified` part on a hybrid one."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup2":
            return Path(fields[4])
    raise LabError(
        "no cgroup v2 hierarchy is mounted on this machine; mount one: mount -t cgroup2 none /sys/fs/cgroup"
    )


def _host_cgroup(lab_id: str) -> Path:
    """The cgroup each host's nspawn runs in, and so the root of the host's own systemd tree.

    nspawn splits the cgroup it starts in into `payload` and `supervisor`. Without a systemd on this machine to give
    each container a scope, every host started from the same cgroup shared one `payload`: their systemds ran the same
    unit cgroups, and one host removing rsyslog.service's cgroup while another spawned into it failed the restart
    ("Failed to spawn executor").
    """
    return _unified_cgroup_mount() / "secure-tenant-lab" / lab_id


def in_cgroup(cgroup: Path, argv: Sequence[str]) -> list[str]:
    """`argv` started in `cgroup`: a shell moves itself into it, then becomes the command (same pid), so that every
    process the command starts is counted there too."""
    return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup), *argv]


def cgroup_cpu_seconds(cgroup: Path) -> float:
    """The CPU seconds the processes of a cgroup tree have used, the exited ones included (every cgroup v2 keeps
    this usage in cpu.stat, with or without the cpu controller)."""
    for line in (cgroup / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1_000_000
    raise LabError(f"{cgroup}/cpu.stat has no usage_usec line")


@contextlib.contextmanager
def job_cgroup(name: str) -> Iterator[Path]:
    """A new cgroup for one job's processes, removed afterwards with whatever the job left running in it (an SSH
    control master). Lab hosts the job boots move to cgroups of their own: they are counted apart."""
    cgroup = (
        _unified_cgroup_mount()
        / "secure-tenant-jobs"
        / f"{os.getpid()}-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"
    )
    _remove_cgroup(cgroup)
    cgroup.mkdir(parents=True)
    try:
        yield cgroup
    finally:
        _remove_cgroup(cgroup)


def _record_cpu(lab_id: str, cgroup: Path) -> None:
    record = os.environ.get(CPU_RECORD_ENV)
    if record and cgroup.is_dir():
        with open(record, "a") as out:
            out.write(
                json.dumps({"lab_id": lab_id, "cpu_seconds": round(cgroup_cpu_seconds(cgroup), 2)}) + "\n"
            )


def recorded_cpu_seconds(record: Path) -> float:
    """The CPU seconds of the hosts destroyed while CPU_RECORD_ENV named `record` (none if none was)."""
    if not record.exists():
        return 0.0
    return sum(float(json.loads(line)["cpu_seconds"]) for line in record.read_text().splitlines() if line)


def _remove_cgroup(cgroup: Path) -> None:
    """Kill whatever the host left in its cgroup and remove the tree, deepest first."""
    if not cgroup.is_dir():
        return
    kill = cgroup / "cgroup.kill"  # Linux 5.14 and later
    if kill.exists():
        kill.write_text("1")
    deadline = time.monotonic() + 10
    nested = sorted((d for d in cgroup.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
    for directory in [*nested, cgroup]:
        while directory.exists():
            try:
                directory.rmdir()
            except OSError:  # EBUSY until the killed processes have exited
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _host_dir(lab_id: str) -> Path:
    return STATE_DIR / "hosts" / lab_id


def _ensure_nat() -> None:
    """Let lab hosts reach the package mirrors (and each other) through this machine."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    if _run("nft", "list", "table", "ip", NAT_TABLE, check=False).returncode == 0:
        return
    ruleset = (
        f"table ip {NAT_TABLE} {{\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    ip saddr {LAB_NETWORK} oifname != "ve-*" masquerade\n'
        "  }\n"
        "}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)


def _write_host_files(rootfs: Path, hostname: str, address: str, gateway: str) -> None:
    (rootfs / "etc/hostname").write_text(hostname + "\n")
    (rootfs / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n"
    )
    # Like Debian's EC2 images: an `admin` user with the key and passwordless sudo, so roles that close
    # root login (ssh_hardening) are tested over the same path a real bastion is managed by.
    _run(
        "chroot",
        str(rootfs),
        "useradd",
        "--create-home",
        "--shell",
        "/bin/bash",
        "--groups",
        "sudo",
        ADMIN_USER,
    )
    (rootfs / f"etc/sudoers.d/90-{ADMIN_USER}").write_text(f"{ADMIN_USER} ALL=(ALL) NOPASSWD:ALL\n")
    ssh_dir = rootfs / f"home/{ADMIN_USER}/.ssh"
    ssh_dir.mkdir(mode=0o700)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(Path(f"{ssh_key()}.pub").read_text())
    authorized.chmod(0o600)
    _run("chroot", str(rootfs), "chown", "-R", f"{ADMIN_USER}:{ADMIN_USER}", f"/home/{ADMIN_USER}/.ssh")
    local_cas = sorted(LOCAL_CA_DIR.glob("*.crt")) if LOCAL_CA_DIR.is_dir() else []
    for ca in local_cas:
        shutil.copyfile(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
    if local_cas:
        _run("chroot", str(rootfs), "update-ca-certificates")
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    (rootfs / "etc/systemd/network/80-container-host0.network").write_text(
        f"[Match]\nName=host0\n\n[Network]\nAddress={address}/24\nGateway={gateway}\n"
    )


def _wait_for_link(interface: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        if Path(f"/sys/class/net/{interface}").exists():
            return
        if process.poll() is not None:
            raise LabError(f"systemd-nspawn exited with {process.returncode}; see {log}")
        time.sleep(0.2)
    raise LabError(f"link {interface} did not appear within {BOOT_TIMEOUT_S}s; see {log}")


def ssh_command(host: LabHost, *remote: str, options: Sequence[str] = ()) -> list[str]:
    """The OpenSSH client command that runs `remote` on the host, over a connection of its own.

    `options` go first, so a caller's `-o Key=value` wins: ssh keeps the first value it reads for each option.
    """
    return [
        "ssh",
        *options,
        "-i",
        host.identity_file,
        "-p",
        str(host.port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=3",
        # Never reuse a multiplexed connection: a probe must log in (and pass the firewall) itself.
        "-o",
        "ControlPath=none",
        "-o",
        "LogLevel=ERROR",
        f"{host.user}@{host.address}",
        *remote,
    ]


def _wait_until_running(host: LabHost, log: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        result = _run(*ssh_command(host, "systemctl", "is-system-running", "--wait"), check=False)
        state = result.stdout.strip()
        if state in {"running", "degraded"}:
            if state == "degraded":
                failed = _run(*ssh_command(host, "systemctl", "--failed", "--no-legend"), check=False)
                print(f"lab host {host.hostname} is degraded:\n{failed.stdout}", flush=True)
            return
        time.sleep(0.5)
    raise LabError(
        f"{host.hostname} at {host.address} not up within {BOOT_TIMEOUT_S}s (last: {state!r}); see {log}"
    )


def create(hostname: str, release: str = DEFAULT_RELEASE) -> LabHost:
    """Boot a fresh Debian host and return once its sshd answers and systemd has started."""
    suite = suite_of(release)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", hostname):
        raise LabError(
            f"hostname {hostname!r} must be lowercase letters, digits and '-', starting with a letter"
        )
    check_host_tools()
    rootfs = ensure_rootfs(suite)
    with _lab_lock():
        ssh_key()
        index = _claim_slot()
        _ensure_nat()
    lab_id = f"st{index}"  # also the machine name: the host side link is ve-<lab_id> (15 characters at most)
    host_dir = _host_dir(lab_id)
    gateway, address = f"10.77.{index}.1", f"10.77.{index}.2"
    try:
        shutil.rmtree(host_dir, ignore_errors=True)
        host_dir.mkdir(parents=True)
        _run("cp", "-a", "--reflink=auto", str(rootfs), str(host_dir / "rootfs"))
        _write_host_files(host_dir / "rootfs", hostname, address, gateway)
        log = host_dir / "console.log"
        cgroup = _host_cgroup(lab_id)
        _remove_cgroup(cgroup)
        cgroup.mkdir(parents=True)
        with open(log, "wb") as console:
            process = subprocess.Popen(
                in_cgroup(
                    cgroup,
                    [
                        "systemd-nspawn",
                        "--boot",
                        "--register=no",
                        "--keep-unit",
                        "--quiet",
                        "-D",
                        str(host_dir / "rootfs"),
                        "-M",
                        lab_id,
                        "--network-veth",
                    ],
                ),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # cgroup v2 inside the host, as Debian runs on EC2, whatever this machine's own hierarchy: systemd 257
                # (Debian 13) on this machine's cgroup v1 failed service restarts at random.
                env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"},
            )
        host = LabHost(lab_id, hostname, address, gateway, ADMIN_USER, 22, str(ssh_key()), process.pid)
        (host_dir / "host.json").write_text(host.to_json())
        _wait_for_link(f"ve-{lab_id}", process, log)
        _run("ip", "addr", "add", f"{gateway}/24", "dev", f"ve-{lab_id}")
        _run("ip", "link", "set", f"ve-{lab_id}", "up")
        _wait_until_running(host, log)
    except subprocess.CalledProcessError as error:
        destroy(lab_id)
        command = " ".join(map(str, error.cmd))
        raise LabError(f"booting {hostname} failed at `{command}`: {(error.stderr or '').strip()}") from error
    except Exception:
        destroy(lab_id)
        raise
    return host


def load(lab_id: str) -> LabHost:
    return LabHost(**json.loads((_host_dir(lab_id) / "host.json").read_text()))


def running() -> list[LabHost]:
    hosts_dir = STATE_DIR / "hosts"
    if not hosts_dir.is_dir():
        return []
    return [load(entry.name) for entry in sorted(hosts_dir.iterdir()) if (entry / "host.json").exists()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def destroy(lab_id: str, pid: int | None = None) -> bool:
    """Power a host off, delete its disk and free its slot; the last host out removes the NAT table.

    With `pid`, only the host booted as that process is destroyed: a stale record (a killed run's molecule
    instance config) must not take down whichever host has reused the slot since. Returns whether it did.
    """
    host_dir = _host_dir(lab_id)
    booted_as = load(lab_id).pid if (host_dir / "host.json").exists() else None
    if pid is not None and booted_as != pid:
        return False
    if booted_as is not None and _alive(booted_as):
        os.kill(booted_as, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _alive(booted_as) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(booted_as, os.WNOHANG)
            time.sleep(0.2)
        if _alive(booted_as):
            os.killpg(booted_as, signal.SIGKILL)
    cgroup = _host_cgroup(lab_id)
    _record_cpu(lab_id, cgroup)
    _remove_cgroup(cgroup)
    shutil.rmtree(host_dir, ignore_errors=True)
    with _lab_lock():
        slots = RUN_DIR / "slots"
        shutil.rmtree(slots / lab_id.removeprefix("st"), ignore_errors=True)
        if not any(slots.iterdir()):  # the last lab host on this machine, whichever state directory it is in
            _run("nft", "delete", "table", "ip", NAT_TABLE, check=False)
    return True


def gc() -> list[str]:
    """Destroy hosts whose nspawn process is gone (left by a killed run)."""
    dead = [host.lab_id for host in running() if not _alive(host.pid)]
    for lab_id in dead:
        destroy(lab_id)
    return dead
