"""The listener reads each PDU straight into its buffer instead of pynetdicom's 4 KiB pieces; it
must keep pynetdicom's contract: exactly the bytes asked for, or what came before the peer closed."""

import socket
import threading

from dicomkit.store_scp import _receive_exactly


def test_a_pdu_sent_in_pieces_is_read_whole():
    ours, theirs = socket.socketpair()
    payload = bytes(range(256)) * 4096  # 1 MiB, more than one socket buffer holds
    sender = threading.Thread(
        target=lambda: [theirs.sendall(payload[i : i + 70_000]) for i in range(0, len(payload), 70_000)]
    )
    sender.start()
    try:
        assert _receive_exactly(ours, len(payload)) == payload
    finally:
        sender.join()
        ours.close()
        theirs.close()


def test_a_peer_closing_mid_pdu_gives_what_arrived():
    ours, theirs = socket.socketpair()
    theirs.sendall(b"\x04\x00" + b"x" * 998)
    theirs.close()
    try:
        received = _receive_exactly(ours, 5000)
        assert received == b"\x04\x00" + b"x" * 998
        assert isinstance(received, bytearray)
    finally:
        ours.close()
