"""Beanie documents, one module per collection. `DOCUMENT_MODELS` is what `init_beanie` gets."""

from beanie import Document

from models.ai_usage import AiUsageDay
from models.audit_log import AuditLog
from models.conversation import Conversation
from models.learner_topic import LearnerTopic, SignalCounts
from models.message import AttemptRecord, GenerationMeta, Message, MessageError, TopicRef, Usage
from models.organization import Organization
from models.refresh_token import RefreshToken
from models.study_group import GroupMember, StudyGroup
from models.user import Profile, User

DOCUMENT_MODELS: list[type[Document]] = [
    Organization,
    User,
    RefreshToken,
    Conversation,
    Message,
    AuditLog,
    LearnerTopic,
    AiUsageDay,
    StudyGroup,
]

__all__ = [
    "DOCUMENT_MODELS",
    "AiUsageDay",
    "AttemptRecord",
    "AuditLog",
    "Conversation",
    "GenerationMeta",
    "GroupMember",
    "LearnerTopic",
    "Message",
    "MessageError",
    "Organization",
    "Profile",
    "RefreshToken",
    "SignalCounts",
    "StudyGroup",
    "TopicRef",
    "Usage",
    "User",
]
