"""`manage.py load_mpi`: the hospitals' CSV links each (site, patient ID) to a person; loading it
again changes nothing; a bad file is refused whole, with the line that is wrong."""

import pytest
from django.core.management import CommandError, call_command

from data_platform.models import AccessKind, DataAccessEvent, PersonLink

CSV = """\ufeffsite,patient_id,person_key,name,birth_date,sex
SUWON,S-100,person-7,,,
ICHEON,I-200,person-7,,,
ANSEONG,A-300,,이^서연,1961-09-23,F
"""


def load(tmp_path, text: str, capsys) -> str:
    path = tmp_path / "mpi.csv"
    path.write_text(text, encoding="utf-8")
    call_command("load_mpi", str(path))
    return capsys.readouterr().out


def test_the_csv_links_the_same_person_at_two_sites_and_a_second_load_changes_nothing(sites, tmp_path, capsys):
    assert load(tmp_path, CSV, capsys).strip() == "linked 3, unchanged 0"

    suwon, icheon, anseong = (PersonLink.objects.get(patient_id=pid) for pid in ("S-100", "I-200", "A-300"))
    assert suwon.person_id == icheon.person_id != anseong.person_id
    assert anseong.name_key == "이서연" and str(anseong.birth_date) == "1961-09-23"
    assert load(tmp_path, CSV, capsys).strip() == "linked 0, unchanged 3"
    assert DataAccessEvent.objects.filter(kind=AccessKind.MPI_CHANGED).count() == 2


def test_a_row_with_a_bad_date_refuses_the_whole_file(sites, tmp_path):
    path = tmp_path / "mpi.csv"
    path.write_text(CSV + "SUWON,S-101,,Kim^Minjun,23/09/1961,M\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 5"):
        call_command("load_mpi", str(path))
    assert not PersonLink.objects.exists()


def test_a_file_without_the_site_column_is_refused(sites, tmp_path):
    path = tmp_path / "mpi.csv"
    path.write_text("hospital,patient_id\nSUWON,S-1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="site and patient_id"):
        call_command("load_mpi", str(path))
