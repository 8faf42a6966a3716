"""The daemon's shared parts, by typed key: built once in :mod:`controller.daemon`, read by
the web routes. Here, below the daemon, so the routes need not import the module that
wires them."""

from __future__ import annotations

import random
import socket

from aiohttp import web

from controller.access.service import AccessService
from controller.agi.recorder import AgiRecorder
from controller.agi.server import AgiServer
from controller.ami import AmiClient
from controller.ari.client import AriClient
from controller.ari.stream import EventStream
from controller.ari.watchdog import EventPump
from controller.audit.witness import WitnessPublisher
from controller.calls.manager import CallManager
from controller.calls.sounds import SoundCheck
from controller.clock import Clock
from controller.config.model import Config
from controller.recordings import LocalVault
from controller.retention.scheduler import PurgeScheduler
from controller.retention.sweep import OrphanSweeper
from controller.store import SqliteStore, StoreThread
from controller.web.guard import FailureLimiter

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
RNG = web.AppKey("rng", random.Random)
STORE = web.AppKey("store", StoreThread[SqliteStore])
ARI = web.AppKey("ari", AriClient)
STREAM = web.AppKey("stream", EventStream)
CALLS = web.AppKey("calls", CallManager)
PUMP = web.AppKey("pump", EventPump)
SOUNDS = web.AppKey("sounds", SoundCheck)
"""The configured sounds, looked up in Asterisk at each ARI connection (C1, C3)."""
SWEEPER = web.AppKey("sweeper", OrphanSweeper)
PURGE = web.AppKey("purge", PurgeScheduler)
VAULT = web.AppKey("vault", LocalVault)
ACCESS = web.AppKey("access", AccessService)
"""The audited door (S1, S2), built once on the store thread; used only through STORE."""
LIMITER = web.AppKey("limiter", FailureLimiter)
WITNESS: web.AppKey[WitnessPublisher | None] = web.AppKey("witness")
AGI: web.AppKey[AgiServer | None] = web.AppKey("agi")
AGI_RECORDER: web.AppKey[AgiRecorder | None] = web.AppKey("agi_recorder")
AMI: web.AppKey[AmiClient | None] = web.AppKey("ami")
"""Asterisk's manager interface, with the FastAGI path: kept logged in, in the background."""
"""The FastAGI server of dialplan-only sites; None without an ``agi`` section."""
AGI_SOCKET: web.AppKey[socket.socket | None] = web.AppKey("agi_socket")
