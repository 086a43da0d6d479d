"""The tax file layout is one contract: what the hub's codec writes, the simulated authority's
codec reads, and the other way round (each side keeps its own codec, on purpose)."""

from connectors.tax import TaxQuery, parse_answer, request_bytes
from contracts.tax_files import ANSWER_HEADER, REQUEST_HEADER, REQUEST_NAME, answer_name
from simulators.tax import answer_bytes, parse_request


def test_a_request_the_hub_writes_is_one_the_authority_reads() -> None:
    body = request_bytes([TaxQuery("Q1", "P", "11010519491231002X", "张三", "CNS-1")])
    rows, problem = parse_request(body)
    assert problem is None
    assert rows == [["Q1", "P", "11010519491231002X", "张三", "CNS-1"]]
    assert body.decode("gb18030").startswith(",".join(REQUEST_HEADER))


def test_an_answer_the_authority_writes_is_one_the_hub_reads() -> None:
    row = ["Q1", "FOUND", "A", "1.00", "2.00", "3.00", "0.10", "0.20", "0.30", "5.00", "", "0"]
    (parsed,) = parse_answer(answer_bytes([row]))
    assert parsed == dict(zip(ANSWER_HEADER, row, strict=True))


def test_names_follow_the_layout() -> None:
    request = "TAXQ_LHB001_20261120_011.csv"
    assert REQUEST_NAME.match(request)
    assert answer_name(request) == "TAXR_LHB001_20261120_011.csv"
