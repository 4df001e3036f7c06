"""The built-in reference engine: classical image processing that finds the planted lesions of
the demo generator in the four clinical areas. Every result says "reference engine, not for
clinical use". The detectors and analyse_datasets are plain Python; analyse_study reads the
archive, so Django is imported only when it is called."""

from .analysis import analyse_datasets


def analyse_study(study) -> list[dict]:
    """Result payloads for a stored worklist.models.Study (see study_analysis.analyse_study)."""
    from .study_analysis import analyse_study as analyse_stored_study

    return analyse_stored_study(study)


__all__ = ["analyse_datasets", "analyse_study"]
