class DicomRejected(Exception):
    """An object that will not be stored. `code` is machine-readable, the message is for people.

    `dimse_status` is the C-STORE failure status to return (PS3.4 Annex B.2.3), `http_status`
    the one for STOW-RS and uploads.
    """

    def __init__(self, code: str, message: str, *, dimse_status: int = 0xC000, http_status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.dimse_status = dimse_status
        self.http_status = http_status
