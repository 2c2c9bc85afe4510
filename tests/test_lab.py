"""The lab's bookkeeping, without booting anything: a stale record never destroys a host that reused its slot."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import hosts


@pytest.fixture
def lab_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(hosts, "STATE_DIR", tmp_path)
    monkeypatch.setattr(hosts, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(hosts, "_link_in_use", lambda index: False)  # this machine's real lab hosts aside
    monkeypatch.setattr(hosts, "_host_cgroup", lambda lab_id: tmp_path / "cgroup" / lab_id)
    return tmp_path


def slot(state: Path, index: int) -> Path:
    return state / "run" / "slots" / str(index)


class _BuildReached(Exception):
    pass


@pytest.mark.parametrize("start", ["ensure_rootfs", "create"])
def test_building_a_root_file_system_leaves_the_lab_lock_free_for_other_hosts_to_boot(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    # A debootstrap under load takes minutes: under the lab lock, it held up every other host's boot.
    lab_lock_free: list[bool] = []

    def build(suite: str) -> Path:
        with open(lab_state / "run" / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lab_lock_free.append(True)
            except BlockingIOError:
                lab_lock_free.append(False)
        raise _BuildReached(suite)

    monkeypatch.setattr(hosts, "_build_rootfs", build)
    monkeypatch.setattr(hosts, "check_host_tools", lambda: None)
    with pytest.raises(_BuildReached, match="bookworm"):
        hosts.ensure_rootfs("12") if start == "ensure_rootfs" else hosts.create("probe", "12")
    assert lab_lock_free == [True]


def test_a_freed_slot_is_not_handed_out_again_at_once(lab_state: Path) -> None:
    # SSH clients keep multiplexed connections to an address for a while: a new host must not take it over.
    first = hosts._claim_slot()
    second = hosts._claim_slot()
    shutil.rmtree(slot(lab_state, first))
    assert hosts._claim_slot() == second + 1
    assert sorted(int(path.name) for path in (lab_state / "run" / "slots").iterdir()) == [second, second + 1]


def test_slots_go_round_the_ring_and_skip_those_taken(lab_state: Path) -> None:
    (lab_state / "run").mkdir()
    (lab_state / "run" / "last-slot").write_text(str(hosts.MAX_SLOTS - 1))
    slot(lab_state, 1).mkdir(parents=True)
    assert [hosts._claim_slot(), hosts._claim_slot()] == [hosts.MAX_SLOTS, 2]


def _record_host(state: Path, index: int, pid: int) -> None:
    slot(state, index).mkdir(parents=True)
    host_dir = state / "hosts" / f"st{index}"
    host_dir.mkdir(parents=True)
    host = hosts.LabHost(
        f"st{index}", "reused", f"10.77.{index}.2", f"10.77.{index}.1", "admin", 22, "key", pid
    )
    (host_dir / "host.json").write_text(host.to_json())


def test_a_stale_record_leaves_the_host_now_in_its_slot_alone(lab_state: Path) -> None:
    # This test process stands in for the live host now holding slot 3; the stale record names another pid.
    _record_host(lab_state, 3, os.getpid())
    assert hosts.destroy("st3", pid=os.getpid() + 1) is False
    assert (lab_state / "hosts" / "st3" / "host.json").is_file()
    assert slot(lab_state, 3).is_dir()


def test_a_record_of_a_slot_already_freed_destroys_nothing(lab_state: Path) -> None:
    slot(lab_state, 5).mkdir(parents=True)  # claimed by a host still booting: no host.json yet
    assert hosts.destroy("st5", pid=12345) is False
    assert slot(lab_state, 5).is_dir()


def test_the_recorded_host_is_powered_off_and_its_slot_freed(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(hosts, "_run", lambda *argv, **_: commands.append(argv))  # the real NAT table stays
    fake_host = subprocess.Popen(["sleep", "60"], start_new_session=True)
    _record_host(lab_state, 4, fake_host.pid)
    assert hosts.destroy("st4", pid=fake_host.pid) is True
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(fake_host.pid, 0)
    assert not (lab_state / "hosts" / "st4").exists()
    assert not slot(lab_state, 4).exists()
    assert commands == [("nft", "delete", "table", "ip", hosts.NAT_TABLE)]


def test_slots_are_claimed_machine_wide_whatever_the_state_directory(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI run with its own state directory beside a developer's must not reuse the addresses in use.
    _record_host(lab_state, 1, os.getpid())
    monkeypatch.setattr(hosts, "STATE_DIR", lab_state / "another-state-dir")
    assert hosts._claim_slot() == 2


def test_a_slot_whose_link_exists_is_skipped(lab_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts, "_link_in_use", lambda index: index == 1)
    assert hosts._claim_slot() == 2


def test_the_nat_table_stays_while_another_state_directorys_host_runs(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(hosts, "_run", lambda *argv, **_: commands.append(argv))
    slot(lab_state, 7).mkdir(parents=True)  # a host of another state directory
    fake_host = subprocess.Popen(["sleep", "60"], start_new_session=True)
    _record_host(lab_state, 4, fake_host.pid)
    assert hosts.destroy("st4", pid=fake_host.pid) is True
    assert commands == []


def test_each_host_runs_its_services_in_cgroups_of_its_own_and_its_cpu_time_is_recorded_when_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two hosts once shared one cgroup tree: every unit cgroup held the other host's processes too (listed as pid 0,
    # from another pid namespace), and a restart on one host failed at random when the other removed the cgroup.
    record = tmp_path / "hosts-cpu.jsonl"
    monkeypatch.setenv(hosts.CPU_RECORD_ENV, str(record))
    booted = [hosts.create("cgroup-a"), hosts.create("cgroup-b")]
    try:
        for host in booted:
            listing = subprocess.run(
                hosts.ssh_command(host, "grep", "-rlx", "0", "/sys/fs/cgroup", "--include=cgroup.procs"),
                check=False,
                capture_output=True,
                text=True,
            )
            assert listing.returncode == 1, (
                f"{host.hostname}: cgroups with foreign processes: {listing.stdout}"
            )
    finally:
        for host in booted:
            hosts.destroy(host.lab_id)
    assert not any(hosts._host_cgroup(host.lab_id).exists() for host in booted)
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert [entry["lab_id"] for entry in recorded] == [host.lab_id for host in booted]
    # Booting systemd, sshd and the SSH logins above cost each host CPU time of its own.
    assert all(entry["cpu_seconds"] > 0.1 for entry in recorded), recorded


def test_a_job_s_cgroup_counts_its_processes_cpu_time_and_takes_its_leftovers_with_it() -> None:
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with hosts.job_cgroup("pki/tenants") as cgroup:
        # A child that outlives the command (as an SSH control master does) is in the cgroup too.
        subprocess.run(hosts.in_cgroup(cgroup, ["sh", "-c", f"sleep 600 & python3 -c '{burn}'"]), check=True)
        left = [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
        assert len(left) == 1
        assert 0.5 <= hosts.cgroup_cpu_seconds(cgroup) < 5
    assert not cgroup.exists()
    # Killed: gone, or a zombie until the init process that adopted it reaps it.
    stat = Path(f"/proc/{left[0]}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
