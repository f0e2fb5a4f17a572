"""The Socket.IO gateway: live chat for web and mobile apps, on one instance or many."""

from realtime.gateway import Gateway

__all__ = ["Gateway"]
