"""Why an object cannot be exported."""


class Excluded(Exception):
    """An object left out of the export. `code` is machine-readable (burned_in_annotation, phi_found,
    unsupported_sop_class, ...); `detail` says where, never the PHI value itself."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
