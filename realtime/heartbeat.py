"""The heartbeat: every third of the presence TTL, this instance's presence entries and socket
slots are extended (so those of a dead instance lapse), and what its sockets hold is checked
again, in one query each: their conversations' access (the fallback of `access_lost`
announcements) and their accounts (the fallback of `disconnect_user`). Control messages are
delivered at most once; with these re-checks a lost one costs seconds, not a leak.

While Redis or MongoDB is down each step logs once when it fails and once when it works again
(issue 14), not a traceback per round."""

from __future__ import annotations

import asyncio
import logging

from realtime.connections import Connections
from realtime.hub import Hub
from realtime.outages import OutageLog
from realtime.rooms import Rooms

log = logging.getLogger("starguide.realtime")


class Heartbeat:
    def __init__(self, hub: Hub, connections: Connections, rooms: Rooms) -> None:
        self._hub = hub
        self._connections = connections
        self._rooms = rooms
        self._refresh_outage = OutageLog(log, "refreshing presence and socket slots")
        self._access_outage = OutageLog(log, "re-checking conversation access")
        self._accounts_outage = OutageLog(log, "re-checking accounts of sockets")

    @property
    def interval(self) -> float:
        return max(1.0, self._hub.settings.presence_ttl_seconds / 3)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()

    async def beat(self) -> None:
        hub = self._hub
        sessions = list(hub.sessions.values())
        entries = [
            (conversation_id, s.user_id, s.sid)
            for s in sessions
            for conversation_id in s.conversations
        ]
        try:
            await hub.presence.refresh(entries)
            await hub.slots.refresh((s.user_id, s.sid) for s in sessions)
        except Exception as exc:
            self._refresh_outage.failed(exc)
        else:
            self._refresh_outage.succeeded()
        try:
            await self._connections.end_unavailable(sessions)
        except Exception as exc:
            self._accounts_outage.failed(exc)
        else:
            self._accounts_outage.succeeded()
        try:
            await self._rooms.recheck_access([s for s in sessions if hub.current(s)])
        except Exception as exc:
            self._access_outage.failed(exc)
        else:
            self._access_outage.succeeded()
