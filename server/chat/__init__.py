"""Mentor chat: one service that stores, generates and streams replies for REST and sockets."""
