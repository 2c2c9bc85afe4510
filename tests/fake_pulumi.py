"""A stand-in for the `pulumi` CLI, for the fleet's Automation API tests (the real CLI cannot be installed here).

It speaks the CLI's side of what pulumi.automation uses: `version`, `stack select`/`stack init`, `preview`, `up`,
`refresh` (engine events over the gRPC event log the SDK opens, as CLI 3.206+ does), `stack output` and
`stack history`. What each stack does comes from the JSON file in $FAKE_PULUMI_PLAN:
{"<stack>": {"exists": bool, "fail": "error text", "changes": {"create": 3}, "policy": [engine policyEvent],
"outputs": {...}, "seconds": 1.0}}; `stack init` records the new stack as a file in $FAKE_PULUMI_STATE. Every call
is appended to $FAKE_PULUMI_CALLS as a JSON line (argv, cwd, start and end time).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

VERSION = "3.272.0"


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _send_events(address: str, events: list[dict[str, Any]]) -> None:
    import grpc
    from pulumi.runtime.proto import events_pb2, events_pb2_grpc

    channel = grpc.insecure_channel(address.removeprefix("tcp://"))
    stub = events_pb2_grpc.EventsStub(channel)
    stub.StreamEvents(
        iter(
            events_pb2.EventRequest(event=json.dumps({"sequence": n, "timestamp": int(time.time()), **event}))
            for n, event in enumerate(events)
        )
    )
    channel.close()


def main(argv: list[str]) -> int:
    started = time.time()
    # The SDK runs every command with --non-interactive first.
    argv = argv[1:] if argv[:1] == ["--non-interactive"] else argv
    code = _run(argv)
    with open(os.environ["FAKE_PULUMI_CALLS"], "a") as calls:
        calls.write(
            json.dumps({"argv": argv, "cwd": os.getcwd(), "start": started, "end": time.time()}) + "\n"
        )
    return code


def _run(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        print(f"v{VERSION}")
        return 0
    plan: dict[str, Any] = json.loads(Path(os.environ["FAKE_PULUMI_PLAN"]).read_text())
    stack_name = _option(argv, "--stack") or (argv[2] if argv[:2] == ["stack", "init"] else "")
    stack = plan.get(stack_name, {})
    created = Path(os.environ["FAKE_PULUMI_STATE"]) / stack_name
    if argv[:2] == ["stack", "init"]:
        created.touch()
        return 0
    if not stack.get("exists") and not created.exists():
        print(f"error: no stack named '{stack_name}' found", file=sys.stderr)
        return 255
    if argv[:2] == ["stack", "select"]:
        return 0
    if argv[:2] == ["stack", "output"]:
        print(json.dumps(stack.get("outputs", {})))
        return 0
    if argv[:2] == ["stack", "history"]:
        changes = stack.get("changes", {})
        print(
            json.dumps(
                [
                    {
                        "kind": "update",
                        "startTime": "2026-12-01T12:00:00.000Z",
                        "message": "",
                        "environment": {},
                        "config": {},
                        "result": "succeeded",
                        "resourceChanges": changes,
                    }
                ]
            )
        )
        return 0
    operation = argv[0]
    time.sleep(stack.get("seconds", 0))
    events: list[dict[str, Any]] = [{"policyEvent": event} for event in stack.get("policy", [])]
    changes = stack.get("changes", {})
    events.append({"summaryEvent": {"resourceChanges": changes, "durationSeconds": 1}})
    if address := _option(argv, "--event-log"):
        _send_events(address, events)
    print(f"{operation} of {stack_name}: {json.dumps(changes)}")
    if failure := stack.get("fail"):
        print(f"error: {failure}", file=sys.stderr)
        return 255
    if "--expect-no-changes" in argv and any(n for op, n in changes.items() if op != "same"):
        print("error: no changes were expected but changes were proposed", file=sys.stderr)
        return 255
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
