"""pytest fixtures around ``bench/mosquitto.py``: a real mosquitto broker on a free loopback
port, started for a test (``broker``) or configured for the test to start (``idle_broker``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.mosquitto import Broker, Subscriber, free_port, port_open, wait_for

__all__ = ["Broker", "Subscriber", "broker", "free_port", "idle_broker", "port_open",
           "wait_for"]


@pytest.fixture
def broker(tmp_path: Path):
    """A running broker on a free loopback port; stopped after the test."""
    running = Broker(tmp_path / "broker").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def idle_broker(tmp_path: Path):
    """A broker that is configured but NOT started (its port is free): start it in the test."""
    waiting = Broker(tmp_path / "broker")
    try:
        yield waiting
    finally:
        waiting.stop()
