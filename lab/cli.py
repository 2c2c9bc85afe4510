"""`secure-tenant-lab`: create, list and destroy throwaway Debian lab hosts."""

from __future__ import annotations

import argparse
import sys

from lab import hosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secure-tenant-lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="boot a host; prints its connection details as JSON")
    create.add_argument("hostname")
    create.add_argument("--release", default=hosts.DEFAULT_RELEASE, help="Debian release: 12 or 13")
    destroy = commands.add_parser("destroy", help="power off and delete hosts")
    destroy.add_argument("lab_ids", nargs="+")
    destroy.add_argument(
        "--pid", type=int, help="only if the host is still the one booted as this process (else: left alone)"
    )
    commands.add_parser("list", help="running hosts, one JSON object a line")
    commands.add_parser("gc", help="delete hosts whose nspawn process died")
    rootfs = commands.add_parser("rootfs", help="build the cached root file system now")
    rootfs.add_argument("--release", default=hosts.DEFAULT_RELEASE, help="Debian release: 12 or 13")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            print(hosts.create(args.hostname, args.release).to_json())
        elif args.command == "destroy":
            for lab_id in args.lab_ids:
                if not hosts.destroy(lab_id, args.pid):
                    print(f"{lab_id} is not the host booted as pid {args.pid} any more: left alone")
        elif args.command == "list":
            for host in hosts.running():
                print(host.to_json())
        elif args.command == "gc":
            print("\n".join(hosts.gc()))
        else:
            hosts.check_host_tools()
            print(hosts.ensure_rootfs(args.release))
    except hosts.LabError as error:
        print(f"secure-tenant-lab: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
