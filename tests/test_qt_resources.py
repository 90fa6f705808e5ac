"""pretrained/qt_resources.py: the files packed in a Qt .rcc file (GCompris' photographs) come back byte for byte."""
from pathlib import Path

import pytest

from utils.errors import UserError
from pretrained.qt_resources import read_qt_resources
from qt_resource_helpers import pack_qt_resources

GCOMPRIS_MONUMENTS = Path("/usr/share/gcompris-qt/rcc/explore_monuments.rcc")


@pytest.mark.parametrize("compress", [False, True])
def test_packed_files_read_back_with_their_folders(tmp_path, compress):
    files = {"a/b/photo.webp": bytes(range(256)) * 40, "a/readme": b"text", "top.qml": b"Item {}",
             "a/b/c/deep.jpg": b"\xff\xd8" + b"x" * 1000}
    (tmp_path / "files.rcc").write_bytes(pack_qt_resources(files, compress=compress))
    assert read_qt_resources(tmp_path / "files.rcc") == files


def test_a_file_that_is_not_a_qt_resource_file_is_refused_by_name(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(UserError, match="photo.jpg: not a Qt resource file"):
        read_qt_resources(tmp_path / "photo.jpg")


@pytest.mark.skipif(not GCOMPRIS_MONUMENTS.is_file(), reason="gcompris-qt-data is not installed")
def test_gcompris_monuments_hold_49_webp_photographs():
    files = read_qt_resources(GCOMPRIS_MONUMENTS)
    photos = [name for name in files if name.endswith(".webp")]
    assert len(photos) == 49 and all(files[name][8:12] == b"WEBP" for name in photos)
    assert "gcompris/src/activities/explore_monuments/resource/france/eiffelTower.webp" in files
