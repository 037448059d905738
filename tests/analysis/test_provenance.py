"""The provenance record and its words: software made it, from which data, and how original its melody is."""

from lofi.analysis.provenance import STATEMENT, describe, provenance

CARD = {"data": {"by_source": {"mma": 2, "loops": 5}, "licences": {"loops": ["GPL-2-or-later"], "mma": ["GPL-2"]}}}
FLAGGED = {"verdict": "flagged", "score": 71.4, "match": {"reference": {"id": "midi/melody/7.mid", "source": "melody"}}}


def test_the_record_names_the_model_its_data_and_the_verdict():
    record = provenance(CARD, "default-abc", FLAGGED)
    assert record["statement"] == STATEMENT and record["model_id"] == "default-abc"
    assert [s["source"] for s in record["training_data"]] == ["loops", "mma"]  # sorted, with their licences
    assert record["training_data"][1] == {"source": "mma", "pieces": 2, "licences": ["GPL-2"]}
    assert record["originality"] == {
        "verdict": "flagged", "score_bits": 71.4, "nearest": {"id": "midi/melody/7.mid", "source": "melody"}
    }  # fmt: skip
    words = describe(record)
    assert STATEMENT in words and "trained on loops, mma (GPL-2; GPL-2-or-later)" in words
    assert "flagged (closest: midi/melody/7.mid, 71 bits)" in words


def test_a_model_without_a_card_or_a_check_still_gets_a_record():
    record = provenance({}, "m", {"verdict": "unchecked"})
    assert record["training_data"] == [] and record["originality"]["nearest"] is None
    assert "an unrecorded corpus" in describe(record) and "unchecked" in describe(record)
