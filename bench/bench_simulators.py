"""The simulators must never be the bottleneck of a hub benchmark.

- ``bureau_soap_vs_static_http``: signed QueryPersonalReport calls/s answered by the bureau
  simulator (zero latency) vs the same client posting the same envelopes to a static WSGI app
  on the same HTTP server (waitress) that returns the bureau's canned answer: the HTTP ceiling.
- ``sftp_download_sim_vs_openssh``: OpenSSH's ``sftp`` downloading one 256 MiB file from the
  simulator (asyncssh) vs from OpenSSH ``sshd`` serving the same file, same cipher. Goal >= 0.8.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import requests
from lxml import etree
from zeep import Client
from zeep.wsse.username import UsernameToken

from bench.common import (
    OpenSshServer,
    Result,
    free_port,
    openssh_get,
    rate,
    simulators_running,
    wait_for_port,
)
from simulators.dataset import generate

CALLS = 1500
FILE_MB = 256
CIPHER = "aes128-gcm@openssh.com"


def _envelopes(endpoints: dict, n: int) -> list[bytes]:
    """Signed envelopes made before timing (each with its own nonce), for known subjects."""
    data = generate(endpoints["seed"], endpoints["persons"], endpoints["enterprises"])
    people = [p for p in data.persons if p.known_to_bureau]
    plain = Client(endpoints["bureau"]["wsdl"])
    creds = endpoints["bureau"]
    out = []
    for i in range(n):
        p = people[i % len(people)]
        env = plain.create_message(
            plain.service,
            "QueryPersonalReport",
            idNumber=p.id_number,
            name=p.name,
            queryReason="02",
            consentRef="C",
            operatorId="bench",
            requestRef=f"B{i}-{uuid.uuid4().hex[:8]}",  # one reference per query
        )
        UsernameToken(creds["username"], creds["password"], use_digest=True).apply(env, {})
        out.append(etree.tostring(env))
    return out


STATIC_SERVER = textwrap.dedent("""
    import sys
    from waitress import serve
    body = open(sys.argv[2], "rb").read()
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=16, _quiet=True)
""")


def bureau(tmp: Path) -> Result:
    port = free_port()
    with simulators_running(tmp / "sim", persons=400) as endpoints:
        envelopes = _envelopes(endpoints, CALLS)
        http = requests.Session()
        url, ref_url = endpoints["bureau"]["url"], f"http://127.0.0.1:{port}/bureau"
        (tmp / "canned.xml").write_bytes(http.post(url, data=envelopes[0], timeout=10).content)
        server = subprocess.Popen(
            [sys.executable, "-c", STATIC_SERVER, str(port), str(tmp / "canned.xml")]
        )
        try:
            wait_for_port(port)
            ours, reference = [], []
            batch = (CALLS - 1) // 3
            for r in range(3):  # alternate rounds, keep the best of each: the machine is shared
                chunk = envelopes[1 + r * batch : 1 + (r + 1) * batch]
                ours.append(
                    rate(
                        batch,
                        lambda c=chunk: [
                            http.post(url, data=e, timeout=10).raise_for_status() for e in c
                        ],
                    )
                )
                reference.append(
                    rate(batch, lambda c=chunk: [http.post(ref_url, data=e, timeout=10) for e in c])
                )
        finally:
            server.terminate()
            server.wait()
    return Result(
        "bureau_soap_vs_static_http",
        max(ours),
        max(reference),
        "calls/s",
        "same client, same envelopes, static WSGI answer on waitress",
    )


def sftp(tmp: Path) -> Result:
    with simulators_running(tmp / "sim") as endpoints:
        s = endpoints["sftp"]
        big = Path(s["root"]) / "extracts" / "BENCH.bin"
        with big.open("wb") as f:
            for _ in range(FILE_MB):
                f.write(os.urandom(1 << 20))
        with OpenSshServer(tmp, Path(s["private_key"] + ".pub")) as sshd:
            ours, reference = [], []
            for _ in range(2):  # alternate, keep the best of each: the machine is shared
                ours.append(
                    FILE_MB
                    / openssh_get(
                        s["port"],
                        s["username"],
                        s["private_key"],
                        s["known_hosts"],
                        "/extracts/BENCH.bin",
                        CIPHER,
                        tmp,
                    )
                )
                reference.append(
                    FILE_MB
                    / openssh_get(
                        sshd.port,
                        sshd.user,
                        s["private_key"],
                        str(sshd.known_hosts),
                        str(big),
                        CIPHER,
                        tmp,
                    )
                )
    return Result(
        "sftp_download_sim_vs_openssh",
        max(ours),
        max(reference),
        "MB/s",
        f"OpenSSH sshd serving the same file, sftp client, {CIPHER}",
        goal=0.8,
    )


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        return [bureau(Path(tmp) / "b"), sftp(Path(tmp) / "s")]
