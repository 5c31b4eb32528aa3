"""provider/proj_data.py: rasterio is pointed at QGIS's proj.db only when that one is newer."""
import sqlite3

from airmap.provider.proj_data import layout_version, newer_folder, share_proj_database


def fake_proj_folder(path, major, minor):
    path.mkdir()
    con = sqlite3.connect(path / "proj.db")
    con.execute("CREATE TABLE metadata (key TEXT, value TEXT)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("DATABASE.LAYOUT.VERSION.MAJOR", str(major)),
                                                          ("DATABASE.LAYOUT.VERSION.MINOR", str(minor))])
    con.commit()
    con.close()
    return str(path)


def test_layout_version_reads_the_metadata_and_tolerates_other_files(tmp_path):
    assert layout_version(fake_proj_folder(tmp_path / "a", 1, 5) + "/proj.db") == (1, 5)
    (tmp_path / "not.db").write_text("not sqlite")
    assert layout_version(str(tmp_path / "not.db")) is None


def test_only_a_newer_layout_of_the_same_major_wins(tmp_path):
    qgis_96, wheel_94 = fake_proj_folder(tmp_path / "q", 1, 5), fake_proj_folder(tmp_path / "w", 1, 3)
    qgis_91 = fake_proj_folder(tmp_path / "old", 1, 2)
    qgis_next = fake_proj_folder(tmp_path / "next", 2, 0)
    assert newer_folder(qgis_96, wheel_94) == qgis_96      # Debian 13: QGIS's database
    assert newer_folder(qgis_91, wheel_94) is None         # Debian 12: the wheel's own
    assert newer_folder(wheel_94, wheel_94) is None
    assert newer_folder(qgis_next, wheel_94) is None       # another major: no guess


def test_a_proj_data_the_user_set_is_kept(tmp_path):
    environ = {"PROJ_DATA": str(tmp_path)}
    assert share_proj_database(environ) is None and environ == {"PROJ_DATA": str(tmp_path)}
