"""A DICOM C-STORE SCP (with C-ECHO) on pynetdicom, with no Django imports.

What to do with an association and its objects is the `StoreService` given to `StoreServer`:
it decides whether a calling AE may send, stores each object from the bytes received (Part 10,
File Meta written from the request, the dataset as sent: never decoded here) and returns the
DIMSE status. An exception in the service becomes a failure status, never a crash."""

import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydicom import uid
from pynetdicom import (
    AE,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    AllStoragePresentationContexts,
    _config,
    evt,
)
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from dicomkit.file_meta import PREAMBLE, encode_file_meta

logger = logging.getLogger(__name__)

# The transfer syntaxes we accept: uncompressed, deflate, RLE and the image compressions that
# pydicom with the pylibjpeg plugins decodes. Video and JPEG XL are left out (nothing decodes them).
ACCEPTED_TRANSFER_SYNTAXES = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.RLELossless,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.JPEG2000MCLossless,
    uid.JPEG2000MC,
    uid.HTJ2KLossless,
    uid.HTJ2KLosslessRPCL,
    uid.HTJ2K,
]

# A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 9.3.4.
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_TRANSIENT = (0x02, 0x01, 0x01)

# C-STORE status "Error: cannot understand" (PS3.4 B.2.3) for a failure inside the service.
STATUS_PROCESSING_FAILURE = 0xC000

# Larger PDUs mean fewer P-DATA fragments to decode per object (pynetdicom's default is 16 KiB).
MAXIMUM_PDU_SIZE = 1 << 20
MAXIMUM_ASSOCIATIONS = 16

# pynetdicom's DUL thread sleeps 1 ms whenever it finds nothing to do, so an object waits up to a
# millisecond to be noticed and its response as long to be sent: for a 512 KiB CT slice that is
# a third of the transport time. A busy association polls every 0.1 ms; one idle for a second goes
# back to pynetdicom's default, which costs next to no CPU.
BUSY_POLL_SECONDS = 0.0001
IDLE_POLL_SECONDS = 0.001
IDLE_AFTER_SECONDS = 1.0


@dataclass
class Peer:
    """One association's sender. `state` belongs to the service (caches, counters)."""

    calling_ae_title: str
    called_ae_title: str
    address: str
    port: int
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Session:
    association: Any
    peer: Peer
    last_activity: float = field(default_factory=time.monotonic)
    busy: bool = False


class StoreService(Protocol):
    def allow(self, peer: Peer) -> bool:
        """Whether this calling AE may open an association (called once, before accepting)."""

    def store(self, peer: Peer, data: bytes) -> int:
        """Store one object (Part 10 bytes) and return the C-STORE status."""

    def association_refused(self, peer: Peer, reason: str) -> None:
        """An association was rejected: `reason` is "calling_ae", "called_ae" or "error"."""

    def association_ended(self, peer: Peer) -> None:
        """An accepted association was released, aborted or lost (called once per association)."""


class _SharedPortServer(ThreadedAssociationServer):
    """pynetdicom's server bound with SO_REUSEPORT: several listener processes share one port
    and the kernel spreads the associations over them (one process per core)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def shutdown(self) -> None:
        # Built by make_server, so not in the AE's list of servers that pynetdicom's own
        # shutdown removes it from.
        socketserver.TCPServer.shutdown(self)
        self.server_close()


class StoreServer:
    """Listens on (bind, port) as `ae_title`; port 0 lets the kernel pick (see `port`). With
    `share_port`, other processes may listen on the same port (they must share it too)."""

    def __init__(
        self,
        service: StoreService,
        *,
        ae_title: str,
        bind: str = "127.0.0.1",
        port: int = 0,
        require_called_aet: bool = True,
        maximum_associations: int = MAXIMUM_ASSOCIATIONS,
        maximum_pdu_size: int = MAXIMUM_PDU_SIZE,
        share_port: bool = False,
    ) -> None:
        self.service = service
        self.share_port = share_port
        self.ae_title = ae_title
        self.address = (bind, port)
        self.require_called_aet = require_called_aet
        self.ae = AE(ae_title=ae_title)
        self.ae.maximum_associations = maximum_associations
        self.ae.maximum_pdu_size = maximum_pdu_size
        self.ae.require_called_aet = require_called_aet
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ACCEPTED_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification, [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian])
        self._sessions: dict[int, _Session] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._stopping = threading.Event()
        self._relaxer: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.address[1]

    def start(self) -> None:
        """Start listening in background threads (one per association)."""
        # pynetdicom's standard handlers describe every message for its debug log, which we
        # never show (its logger is at WARNING): per object, that is work for nothing.
        _config.LOG_HANDLER_LEVEL = "none"
        handlers = [
            (evt.EVT_CONN_OPEN, _tune_socket),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_ended),
            (evt.EVT_ABORTED, self._on_ended),
            (evt.EVT_CONN_CLOSE, self._on_ended),
        ]
        if self.share_port:
            self._server = self.ae.make_server(self.address, evt_handlers=handlers, server_class=_SharedPortServer)
            threading.Thread(target=self._server.serve_forever, name="store-scp-accept", daemon=True).start()
        else:
            self._server = self.ae.start_server(self.address, block=False, evt_handlers=handlers)
        self._stopping.clear()
        self._relaxer = threading.Thread(target=self._relax_idle, name="store-scp-idle", daemon=True)
        self._relaxer.start()

    def stop(self) -> None:
        """Stop accepting and end the running associations."""
        self._stopping.set()
        if self._relaxer is not None:
            self._relaxer.join()
            self._relaxer = None
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _relax_idle(self) -> None:
        while not self._stopping.wait(IDLE_AFTER_SECONDS / 2):
            now = time.monotonic()
            with self._lock:
                idle = [
                    session
                    for session in self._sessions.values()
                    if session.busy and now - session.last_activity > IDLE_AFTER_SECONDS
                ]
                for session in idle:
                    session.busy = False
            for session in idle:
                _set_poll_interval(session.association, IDLE_POLL_SECONDS)

    def _mark_busy(self, session: _Session) -> None:
        session.last_activity = time.monotonic()
        if not session.busy:
            session.busy = True
            _set_poll_interval(session.association, BUSY_POLL_SECONDS)

    def _on_requested(self, event: evt.Event) -> None:
        request = event.assoc.requestor
        peer = Peer(
            calling_ae_title=request.primitive.calling_ae_title.strip(),
            called_ae_title=request.primitive.called_ae_title.strip(),
            address=str(request.address),
            port=int(request.port),
        )
        if self.require_called_aet and peer.called_ae_title != self.ae_title:
            self._reject(event, peer, "called_ae", REJECT_CALLED_AE)
            return
        try:
            allowed = self.service.allow(peer)
        except Exception:
            logger.exception("allow check failed for an association request")
            self._reject(event, peer, "error", REJECT_TRANSIENT)
            return
        if not allowed:
            self._reject(event, peer, "calling_ae", REJECT_CALLING_AE)
            return
        session = _Session(event.assoc, peer)
        with self._lock:
            self._sessions[id(event.assoc)] = session
        self._mark_busy(session)

    def _reject(self, event: evt.Event, peer: Peer, reason: str, rejection: tuple[int, int, int]) -> None:
        logger.info("association from %s rejected: %s", peer.address, reason)
        # Recorded before the peer hears of it, so that no refusal goes unrecorded.
        try:
            self.service.association_refused(peer, reason)
        except Exception:
            logger.exception("recording a refused association failed")
        event.assoc.acse.send_reject(*rejection)
        # As pynetdicom does for its own rejections: wait until the reject is sent, then stop.
        event.assoc.kill()

    def _on_store(self, event: evt.Event) -> int:
        with self._lock:
            session = self._sessions.get(id(event.assoc))
        if session is None:
            return STATUS_PROCESSING_FAILURE
        self._mark_busy(session)
        try:
            return self.service.store(session.peer, _part10(event, session.peer))
        except Exception:
            logger.exception("storing an object failed")
            return STATUS_PROCESSING_FAILURE

    def _on_ended(self, event: evt.Event) -> None:
        with self._lock:
            session = self._sessions.pop(id(event.assoc), None)
        if session is None:
            return
        try:
            self.service.association_ended(session.peer)
        except Exception:
            logger.exception("ending an association failed")


def _tune_socket(event: evt.Event) -> None:
    association_socket = event.assoc.dul.socket
    # pynetdicom never turns Nagle's algorithm off; a response held back for a delayed ACK
    # would stall the sender for tens of milliseconds.
    association_socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # pynetdicom reads a PDU 4 KiB per recv() call, appending each piece: for a 512 KiB CT slice
    # that is 128 calls and as many copies, most of the transport's time. Reading straight into
    # the PDU's buffer takes a few calls. Same contract: the bytes asked for, or fewer when the
    # peer closed the connection; errors propagate as from recv().
    connection = association_socket.socket
    association_socket.recv = lambda count: _receive_exactly(connection, count)


def _receive_exactly(connection: socket.socket, count: int) -> bytearray:
    buffer = bytearray(count)
    view = memoryview(buffer)
    received = 0
    while received < count:
        read = connection.recv_into(view[received:], count - received)
        if not read:
            del view
            del buffer[received:]
            break
        received += read
    return buffer


def _set_poll_interval(association: Any, seconds: float) -> None:
    # A private attribute of pynetdicom 3 (DULServiceProvider._run_loop_delay); without it we
    # keep pynetdicom's default.
    dul = association.dul
    if hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = seconds


def _part10(event: evt.Event, peer: Peer) -> bytes:
    """The object as a Part 10 file: the dataset exactly as received (never decoded), behind File
    Meta Information made from the request, as `event.encoded_dataset(include_meta=True)` does
    but without a pydicom Dataset in between, and naming the sender (Source AE Title)."""
    request = event.request
    meta = encode_file_meta(
        sop_class_uid=str(request.AffectedSOPClassUID or ""),
        sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
        transfer_syntax_uid=str(event.context.transfer_syntax),
        implementation_class_uid=PYNETDICOM_IMPLEMENTATION_UID,
        implementation_version_name=PYNETDICOM_IMPLEMENTATION_VERSION,
        source_ae_title=peer.calling_ae_title,
    )
    return b"".join((PREAMBLE, meta, event.encoded_dataset(include_meta=False)))
