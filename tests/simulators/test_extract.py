"""The LNREPAY extract, read back by a decoder written here from the catalogue's layout."""

import hashlib
from decimal import Decimal
from pathlib import Path

LRECL = 87
# (name, offset, length, kind) straight from legacy-systems.md section 4, not from the copybook
DETAIL = [
    ("type", 0, 1, "X"),
    ("loan", 1, 20, "X"),
    ("customer", 21, 12, "9"),
    ("inst", 33, 3, "9"),
    ("due", 36, 8, "9"),
    ("p_due", 44, 8, "P"),
    ("i_due", 52, 8, "P"),
    ("p_paid", 60, 8, "P"),
    ("i_paid", 68, 8, "P"),
    ("paid_date", 76, 8, "9"),
    ("dpd", 84, 2, "B"),
    ("status", 86, 1, "X"),
]


class BadNibble(ValueError):
    pass


def unpack(raw: bytes, scale: int = 2) -> tuple[Decimal, int]:
    nibbles = [n for b in raw for n in (b >> 4, b & 0x0F)]
    *digits, sign = nibbles
    if any(d > 9 for d in digits) or sign not in (0xC, 0xD, 0xF):
        raise BadNibble(raw.hex())
    value = Decimal(int("".join(map(str, digits)))).scaleb(-scale)
    return (-value if sign == 0xD else value), sign


def decode(data: bytes) -> tuple[bytes, list[dict], list[int], bytes]:
    assert len(data) % LRECL == 0
    records = [data[i : i + LRECL] for i in range(0, len(data), LRECL)]
    header, *details, trailer = records
    rows, bad, signs = [], [], set()
    for n, rec in enumerate(details):
        row = {}
        try:
            for name, off, length, kind in DETAIL:
                field = rec[off : off + length]
                if kind == "X":
                    row[name] = field.decode("cp037").rstrip()
                elif kind == "9":
                    row[name] = int(field.decode("cp037"))
                elif kind == "B":
                    row[name] = int.from_bytes(field, "big", signed=True)
                else:
                    row[name], sign = unpack(field)
                    signs.add(sign)
        except BadNibble:
            bad.append(n)
            continue
        rows.append(row)
    decode.signs = signs  # type: ignore[attr-defined]
    return header, rows, bad, trailer


def fetch(sim, sim_endpoints, **body) -> bytes:
    out = sim.post("/extract", body)
    return (Path(sim_endpoints["sftp"]["root"]) / out["file"].lstrip("/")).read_bytes()


def trailer_values(trailer: bytes) -> tuple[int, Decimal]:
    return int(trailer[1:10].decode("cp037")), unpack(trailer[10:19])[0]


def test_extract_follows_the_layout_and_its_trailer_adds_up(sim, sim_endpoints, sim_dataset):
    data = fetch(sim, sim_endpoints)
    header, rows, bad, trailer = decode(data)
    assert header[:1].decode("cp037") == "H"
    assert header[1:9].decode("cp037") == f"{sim_dataset.business_date:%Y%m%d}"
    assert header[15:] == b"\x40" * (LRECL - 15)
    assert bad == []
    count, total = trailer_values(trailer)
    assert count == len(rows) > 20
    assert total == sum(r["p_paid"] + r["i_paid"] for r in rows)
    assert {r["status"] for r in rows} >= {"P", "M"}
    assert decode.signs == {0xC, 0xD, 0xF}  # type: ignore[attr-defined]
    assert all(r["p_paid"] >= 0 for r in rows)  # -0 decodes to zero
    entry = sim.journal("core", "extract")[0]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_corrupt_record_has_a_bad_nibble_and_the_trailer_still_counts_it(sim, sim_endpoints):
    _header, rows, bad, trailer = decode(fetch(sim, sim_endpoints, corrupt=1, seed=3))
    assert len(bad) == 1
    assert trailer_values(trailer)[0] == len(rows) + 1


def test_trailer_mismatch_controls(sim, sim_endpoints):
    _, rows, _, trailer = decode(fetch(sim, sim_endpoints, trailer="count"))
    assert trailer_values(trailer)[0] == len(rows) + 1
    _, rows, _, trailer = decode(fetch(sim, sim_endpoints, trailer="hash"))
    count, total = trailer_values(trailer)
    assert count == len(rows)
    assert total == sum(r["p_paid"] + r["i_paid"] for r in rows) + Decimal("0.01")


def test_a_corrected_file_is_redelivered_under_the_same_name(sim, sim_endpoints):
    broken = sim.post("/extract", {"corrupt": 2})
    fixed = sim.post("/extract", {})
    assert broken["file"] == fixed["file"]
    assert broken["sha256"] != fixed["sha256"]
    assert [e["sha256"] for e in sim.journal("core", "extract")] == [
        broken["sha256"],
        fixed["sha256"],
    ]
