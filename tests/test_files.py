import pytest

from lofi.files import atomic_write


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out" / "data.txt"
    atomic_write(path, lambda tmp: tmp.write_text("good"))
    assert path.read_text() == "good"

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "good"
    assert [p.name for p in path.parent.iterdir()] == ["data.txt"]
    assert path.stat().st_mode & 0o777 == 0o644
