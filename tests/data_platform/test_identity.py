"""The master patient index and the additional information: one person across the three sites gets
one pseudonym; the key table is refused to anyone but a key custodian, and every access is audited."""

from datetime import date

import pytest

from data_platform import keys, mpi
from data_platform.models import AccessKind, DataAccessEvent, Export, KeyCustodian, PersonLink
from tests.conftest import make_user
from worklist.models import Patient

CSV = """site,patient_id,person_key,name,birth_date,sex
SUWON,S-100,person-7,,,
ICHEON,I-200,person-7,,,
ANSEONG,A-300,person-7,,,
ANSEONG,A-301,,,,
"""


def export_for(user, cohort, purpose):
    return Export.objects.create(cohort=cohort, purpose=purpose, reason="r", requested_by=user)


def test_the_same_person_at_three_sites_gets_one_pseudonym(sites, steward, cohort_of_everything, approved_purpose):
    mpi.load_csv(CSV)
    export = export_for(steward, cohort_of_everything, approved_purpose)
    secret = keys.keys_for_export(export)
    pseudonyms = set()
    for code, patient_id in (("SUWON", "S-100"), ("ICHEON", "I-200"), ("ANSEONG", "A-300")):
        patient = Patient.objects.create(site=sites[code], patient_id=patient_id)
        person = mpi.person_for_patient(patient)
        pseudonyms.add(keys.mapping_for(person, keys=secret, export=export).pseudonym)
    other = mpi.person_for_patient(Patient.objects.create(site=sites["ANSEONG"], patient_id="A-301"))
    assert len(pseudonyms) == 1
    assert keys.mapping_for(other, keys=secret, export=export).pseudonym not in pseudonyms


def test_the_demo_woman_known_at_two_sites_is_suggested_and_linked_once_confirmed(sites, steward):
    # As the demo catalogue has her: 이^서연 born 1961-09-23 at Suwon and Anseong under different IDs.
    Patient.objects.create(
        site=sites["SUWON"], patient_id="SW0001", name="이^서연", birth_date=date(1961, 9, 23), sex="F"
    )
    Patient.objects.create(
        site=sites["ANSEONG"], patient_id="AS-77", name="이서연", birth_date=date(1961, 9, 23), sex="F"
    )
    Patient.objects.create(
        site=sites["ICHEON"], patient_id="IC-1", name="이^서연", birth_date=date(1962, 1, 1), sex="F"
    )
    mpi.index_worklist_patients()

    suggestions = mpi.suggestions(user=steward)

    assert [[link.patient_id for link in s.links] for s in suggestions] == [["AS-77", "SW0001"]]
    mpi.confirm_same_person(link_ids=[link.pk for link in suggestions[0].links], user=steward)
    assert PersonLink.objects.filter(patient_id__in=["AS-77", "SW0001"]).values("person").distinct().count() == 1
    assert mpi.suggestions(user=steward) == []


def test_romanised_names_compare_without_case_carets_or_spaces():
    assert mpi.normalise_name("KIM^MIN JUN") == mpi.normalise_name("Kim^Minjun")
    assert mpi.normalise_name("Kim^Minjun=김^민준") == mpi.normalise_name("김민준")


def test_the_key_table_is_refused_to_a_radiologist_and_the_refusal_is_audited(sites):
    radiologist = make_user("kim", sites=[sites["SUWON"]])
    with pytest.raises(keys.KeyAccessRefused):
        keys.read_key_table(radiologist)
    assert DataAccessEvent.objects.filter(user=radiologist, kind=AccessKind.REFUSED).exists()


def test_an_exporting_steward_who_is_no_key_custodian_may_not_read_the_key_table(steward):
    with pytest.raises(keys.KeyAccessRefused):
        keys.read_key_table(steward)


def test_a_key_custodian_sees_fingerprints_never_the_secret_and_the_read_is_audited(steward, admin_user):
    KeyCustodian.objects.create(user=steward, granted_by=admin_user)
    rows = keys.read_key_table(steward)
    assert len(rows) == 1 and set(rows[0]) == {"id", "fingerprint", "active", "created_at"}
    assert DataAccessEvent.objects.filter(user=steward, kind=AccessKind.KEY_READ).count() == 1


def test_the_export_key_is_refused_when_the_requester_is_not_a_steward(
    sites, steward, cohort_of_everything, approved_purpose
):
    export = export_for(make_user("kim", sites=[sites["SUWON"]]), cohort_of_everything, approved_purpose)
    with pytest.raises(keys.KeyAccessRefused):
        keys.keys_for_export(export)
