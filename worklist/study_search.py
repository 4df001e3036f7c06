from django.db.models import Q, QuerySet

from worklist.models import Study


def search_studies(studies: QuerySet[Study], query: str) -> QuerySet[Study]:
    """Match a patient name (prefix of family or full name), a patient ID or an accession number."""
    if not query:
        return studies
    return studies.filter(
        Q(accession_number=query) | Q(patient__patient_id=query) | Q(patient__name__istartswith=query)
    )
