"""Beanie documents, one module per collection. `DOCUMENT_MODELS` is what `init_beanie` gets."""

from beanie import Document

from models.audit_log import AuditLog
from models.conversation import Conversation
from models.message import Message, MessageError, TopicRef, Usage
from models.organization import Organization
from models.refresh_token import RefreshToken
from models.user import LearnerMemory, Profile, User, WeakTopic

DOCUMENT_MODELS: list[type[Document]] = [
    Organization,
    User,
    RefreshToken,
    Conversation,
    Message,
    AuditLog,
]

__all__ = [
    "DOCUMENT_MODELS",
    "AuditLog",
    "Conversation",
    "LearnerMemory",
    "Message",
    "MessageError",
    "Organization",
    "Profile",
    "RefreshToken",
    "TopicRef",
    "Usage",
    "User",
    "WeakTopic",
]
