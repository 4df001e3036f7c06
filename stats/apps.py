from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "Agreement statistics"

    def ready(self) -> None:
        from stats import rollups

        rollups.connect()
