"""The file receipt book: every file taken from a legacy system, by name and SHA-256, tells a
first delivery from a duplicate and from a corrected re-delivery, on both stores."""

from sqlalchemy import Engine

from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileState


def test_receipts_tell_new_duplicate_and_redelivery(engine: Engine) -> None:
    receipts = FileReceiptBook(engine)
    assert receipts.record("core", "R.dat", "a" * 64, 5) == "new"
    assert receipts.record("core", "R.dat", "a" * 64, 5) == "duplicate"
    assert receipts.record("core", "R.dat", "b" * 64, 9) == "redelivery"
    assert receipts.record("tax", "R.dat", "a" * 64, 5) == "new"  # another system's file
    assert receipts.state("core", "R.dat", "a" * 64) is FileState.RECEIVED


def test_what_became_of_a_file_is_marked_with_its_counts(engine: Engine) -> None:
    receipts = FileReceiptBook(engine)
    receipts.record("tax", "A.csv", "c" * 64, 10)
    receipts.mark("tax", "A.csv", "c" * 64, FileState.PARTIAL, kept_at="/kept", records=(9, 1))
    assert receipts.state("tax", "A.csv", "c" * 64) is FileState.PARTIAL
    assert receipts.state("tax", "A.csv", "d" * 64) is None
