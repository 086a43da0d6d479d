"""``python -m simulators up | status | down | serve | dataset-hash``.

``up`` starts the simulators in the background (one process, its own session), waits until
they answer, and prints where the endpoints file is; ``down`` stops them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import uvloop

from simulators import connections
from simulators.dataset import generate
from simulators.server import ENDPOINTS, SimConfig, serve

DEFAULT_DIR = Path("var/sim")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_endpoints(data_dir: Path) -> dict | None:
    path = data_dir / ENDPOINTS
    if not path.exists():
        return None
    endpoints = json.loads(path.read_text())
    return endpoints if _alive(endpoints["pid"]) else None


def healthy(endpoints: dict) -> bool:
    try:
        with urllib.request.urlopen(endpoints["admin"]["url"] + "/health", timeout=2) as r:  # noqa: S310
            return json.load(r).get("ok") is True
    except OSError:
        return False


def up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    running = read_endpoints(data_dir)
    if running and healthy(running):
        print(f"simulators already running (pid {running['pid']}): {data_dir / ENDPOINTS}")
        return 0
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / ENDPOINTS).unlink(missing_ok=True)
    connections.remove(data_dir)  # a killed run's ports: the new run writes its own
    log = (data_dir / "simulators.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators",
            "serve",
            "--data-dir",
            str(data_dir),
            "--seed",
            str(args.seed),
            "--persons",
            str(args.persons),
            "--enterprises",
            str(args.enterprises),
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        endpoints = read_endpoints(data_dir)
        if endpoints and endpoints["pid"] == proc.pid and healthy(endpoints):
            print(
                f"simulators up (pid {proc.pid}, dataset {endpoints['dataset_sha256'][:12]}): "
                f"{data_dir / ENDPOINTS}"
            )
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print(f"simulators failed to start; see {data_dir / 'simulators.log'}", file=sys.stderr)
    proc.terminate()
    return 1


def status(args: argparse.Namespace) -> int:
    endpoints = read_endpoints(args.data_dir)
    if not endpoints or not healthy(endpoints):
        print("simulators: down")
        return 1
    print(f"simulators: up (pid {endpoints['pid']}, since {endpoints['started_at']})")
    for name in ("bureau", "core", "admin"):
        print(f"  {name:<7} {endpoints[name]['url']}")
    sftp = endpoints["sftp"]
    print(f"  sftp    {sftp['host']}:{sftp['port']} host key {sftp['host_key_fingerprint']}")
    print(f"  smtp    {endpoints['smtp']['host']}:{endpoints['smtp']['port']}")
    return 0


def down(args: argparse.Namespace) -> int:
    endpoints = read_endpoints(args.data_dir)
    if not endpoints:
        print("simulators: not running")
        return 0
    os.kill(endpoints["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(endpoints["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(endpoints["pid"]):
        os.kill(endpoints["pid"], signal.SIGKILL)
    (args.data_dir / ENDPOINTS).unlink(missing_ok=True)
    connections.remove(args.data_dir)
    print("simulators: stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators")
    parser.add_argument("command", choices=("up", "status", "down", "serve", "dataset-hash"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument("--enterprises", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=30.0)
    serving = parser.add_argument_group("serve (in the foreground, e.g. in a container)")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serving.add_argument("--advertise", help="host name the endpoints file gives out")
    serving.add_argument("--http-port", type=int, default=0)
    serving.add_argument("--sftp-port", type=int, default=0)
    serving.add_argument("--smtp-port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        config = SimConfig(
            args.data_dir,
            args.seed,
            args.persons,
            args.enterprises,
            host=args.host,
            http_port=args.http_port,
            sftp_port=args.sftp_port,
            smtp_port=args.smtp_port,
            advertise=args.advertise,
        )
        uvloop.run(serve(config))  # the SFTP server's throughput is event-loop bound
        return 0
    if args.command == "dataset-hash":
        print(generate(args.seed, args.persons, args.enterprises).digest())
        return 0
    return {"up": up, "status": status, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
