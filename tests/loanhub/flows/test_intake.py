from sqlalchemy import Engine, func, select

from devtools.synthetic import applicant_batch
from loanhub.flows.intake import load_applicants
from loanhub.platform import audit
from loanhub.platform.masking import mask_text
from schemas.tables import application, consent, party, quarantined_record


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_same_seed_gives_the_same_batch() -> None:
    assert applicant_batch(11, 30) == applicant_batch(11, 30)
    assert applicant_batch(11, 30) != applicant_batch(12, 30)


def test_a_batch_loads_and_mistyped_ids_are_quarantined_with_reason(engine: Engine) -> None:
    batch = applicant_batch(7, 40)
    summary = load_applicants(engine, batch, source_ref="batch-7")
    assert summary.received == 40
    assert summary.loaded + summary.quarantined_records == 40
    assert summary.quarantined_records == 1  # every 13th person is mistyped; seed 7 has one
    assert _count(engine, application) == summary.loaded
    assert _count(engine, consent) == summary.loaded
    assert _count(engine, party) == summary.persons + summary.enterprises
    with engine.connect() as conn:
        q = conn.execute(select(quarantined_record)).mappings().one()
    assert q["field_path"] == "party.id_number"
    assert "check character" in q["reason"]
    assert q["source_ref"] == "batch-7"
    assert q["record_ref"].startswith("APP007")
    bad_id = next(
        r["party"]["id_number"]
        for r in batch
        if r["application"]["application_no"] == q["record_ref"]
    )
    assert bad_id not in q["raw_masked"]
    assert mask_text(bad_id) in q["raw_masked"]


def test_loading_again_adds_nothing(engine: Engine) -> None:
    batch = applicant_batch(3, 25)
    first = load_applicants(engine, batch, source_ref="b")
    second = load_applicants(engine, batch, source_ref="b")
    assert second.loaded == 0
    assert second.already_present == first.loaded
    assert _count(engine, application) == first.loaded
    assert audit.verify(engine).checked == 2


def test_stored_facts_carry_lineage(engine: Engine) -> None:
    load_applicants(engine, applicant_batch(5, 5), source_ref="b")
    with engine.connect() as conn:
        rows = conn.execute(select(application)).mappings().all()
    for row in rows:
        assert row["source_system"] == "intake"
        assert row["fetched_at"].utcoffset().total_seconds() == 0
        assert len(row["raw_payload_hash"]) == 64
        assert len(row["mapping_version"]) == 16


def test_a_key_used_twice_in_one_batch_is_quarantined_not_dropped(engine: Engine) -> None:
    batch = applicant_batch(9, 4, mistyped_every=99)
    twin = {**batch[1], "application": {**batch[1]["application"], "requested_amount": "1.00"}}
    summary = load_applicants(engine, [*batch, twin], source_ref="dup")
    assert summary.received == 5
    assert summary.loaded == 4
    assert summary.quarantined_records == 1
    assert _count(engine, application) == 4
    with engine.connect() as conn:
        q = conn.execute(select(quarantined_record)).mappings().one()
    assert q["field_path"] == "application.application_no"
    assert "appears twice in the batch" in q["reason"]


def test_a_refused_records_applicant_name_is_masked_in_quarantine(engine: Engine) -> None:
    batch = applicant_batch(7, 40)  # one person in it has a mistyped ID
    load_applicants(engine, batch, source_ref="names")
    with engine.connect() as conn:
        ref, raw = conn.execute(
            select(quarantined_record.c.record_ref, quarantined_record.c.raw_masked)
        ).one()
    bad = next(r for r in batch if r["application"]["application_no"] == ref)
    assert bad["party"]["name"] not in raw
    assert bad["party"]["name"][0] in raw
