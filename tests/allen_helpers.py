"""Test helpers for Allen caches: make every network access impossible."""
from __future__ import annotations

import socket
from contextlib import contextmanager

import pytest


class NetworkAccessed(AssertionError):
    """Raised by the patched HTTP layer: a test touched the network."""


@contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Patch allensdk's HTTP retrieval and the socket layer to raise ``NetworkAccessed``."""
    from allensdk.api.api import Api

    def refuse(*args, **kwargs):
        raise NetworkAccessed(f"network access attempted: {args[1:2]}")

    monkeypatch.setattr(Api, "retrieve_file_over_http", refuse)
    monkeypatch.setattr(Api, "retrieve_parsed_json_over_http", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
