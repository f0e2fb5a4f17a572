"""Organizations in export and erasure: the user's export names theirs (server/users/privacy.py);
an organization is not a person's data and outlives its members."""

from __future__ import annotations

from models import Organization
from server.privacy.registry import PrivacyRegistry


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.holds_no_personal_data(
        Organization, why="an organization's name and settings; its members are users"
    )
