"""Beanie documents, one module per collection. `DOCUMENT_MODELS` is what `init_beanie` gets."""

from beanie import Document

from models.achievement import Achievement, AchievementCriteria
from models.ai_usage import AiUsageDay
from models.assignment import Assignment
from models.audit_log import AuditLog
from models.conversation import Conversation
from models.document_chunk import DocumentChunk
from models.learner_topic import LearnerTopic, SignalCounts
from models.library_document import LibraryDocument
from models.message import AttemptRecord, GenerationMeta, Message, MessageError, TopicRef, Usage
from models.mock_test import MockTest
from models.organization import Organization
from models.password_reset_token import PasswordResetToken
from models.progress import DayCounters, Progress, StreakState
from models.question import Question
from models.quiz_attempt import AttemptResult, MasteryPoint, QuizAttempt
from models.refresh_token import RefreshToken
from models.study_group import GroupMember, StudyGroup
from models.topic import Topic
from models.topic_mastery import AppliedAnswer, FsrsCard, TopicMastery
from models.user import Profile, User
from models.user_achievement import UserAchievement
from models.user_identity import UserIdentity
from models.xp_event import XpEvent

DOCUMENT_MODELS: list[type[Document]] = [
    Organization,
    User,
    RefreshToken,
    PasswordResetToken,
    UserIdentity,
    Conversation,
    Message,
    AuditLog,
    LearnerTopic,
    AiUsageDay,
    StudyGroup,
    XpEvent,
    Progress,
    Achievement,
    UserAchievement,
    Question,
    QuizAttempt,
    TopicMastery,
    Topic,
    LibraryDocument,
    DocumentChunk,
    MockTest,
    Assignment,
]

__all__ = [
    "DOCUMENT_MODELS",
    "Achievement",
    "AchievementCriteria",
    "AiUsageDay",
    "AppliedAnswer",
    "Assignment",
    "AttemptRecord",
    "AttemptResult",
    "AuditLog",
    "Conversation",
    "DayCounters",
    "DocumentChunk",
    "FsrsCard",
    "GenerationMeta",
    "GroupMember",
    "LearnerTopic",
    "LibraryDocument",
    "MasteryPoint",
    "Message",
    "MessageError",
    "MockTest",
    "Organization",
    "PasswordResetToken",
    "Profile",
    "Progress",
    "Question",
    "QuizAttempt",
    "RefreshToken",
    "SignalCounts",
    "StreakState",
    "StudyGroup",
    "Topic",
    "TopicMastery",
    "TopicRef",
    "Usage",
    "User",
    "UserAchievement",
    "UserIdentity",
    "XpEvent",
]
