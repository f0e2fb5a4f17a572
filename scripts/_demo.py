"""`seed --demo`: a demo coaching institute with a mentor, a study group and five learners.

Everything goes through the services the API uses (groups, chat tagging, learner memory,
quizzes, progress), so the demo data looks exactly like real use. Each piece has a stable key
and is only written when missing: users by email, conversations by a derived id, messages by
`client_message_id`, quiz attempts by `client_attempt_id`, XP by its award key. A second run
therefore finds everything and reports it unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from models import Message, Organization, Profile, TopicRef, User
from models.common import utcnow
from scripts._runtime import Summary, progress_bar, stable_object_id
from server.auth.passwords import Passwords
from server.conversations.history import Turn, plan_history, write_history
from server.groups import service as groups_service
from server.groups.schemas import GroupCreate, GroupJoin
from server.memory import service as memory
from server.memory.taxonomy import Taxonomy
from server.orgs import service as orgs_service
from server.progress import service as progress_service
from server.progress.service import ProgressService
from server.quiz import bank as quiz_bank
from server.quiz import service as quiz_service
from server.quiz.schemas import AttemptCreate
from server.users import service as users_service

ORG_SLUG: Final = "demo"
ORG_NAME: Final = "Prerna Academy, Kota (demo)"
EMAIL_DOMAIN: Final = "demo.example.com"  # reserved for examples (RFC 2606); logins accept it
GROUP_NAME: Final = "Evening Batch 2026"
PREFIX: Final = "demo"

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class DemoChat:
    title: str
    turns: tuple[tuple[Role, str], ...]


@dataclass(frozen=True, slots=True)
class DemoPerson:
    key: str  # the email's local part
    name: str
    role: Literal["learner", "mentor"]
    exam: str | None = None
    grade: str | None = None
    chats: tuple[DemoChat, ...] = ()
    quiz_topics: tuple[str, ...] = ()  # one question each: all right but the last

    @property
    def email(self) -> str:
        return f"{self.key}@{EMAIL_DOMAIN}"


MENTOR: Final = DemoPerson("meera", "Meera Iyer", "mentor")
LEARNERS: Final = (
    DemoPerson(
        "asha",
        "Asha Verma",
        "learner",
        exam="JEE",
        grade="12",
        chats=(
            DemoChat(
                "Projectile range",
                (
                    (
                        "user",
                        "I don't understand how to find the range of a projectile "
                        "launched at an angle.",
                    ),
                    (
                        "assistant",
                        "Split the launch velocity u into u cos θ (horizontal) and u sin θ "
                        "(vertical). The time of flight is 2u sin θ / g, and the range is the "
                        "horizontal speed times that time: R = u² sin 2θ / g.",
                    ),
                    ("user", "So why is the projectile range largest at 45 degrees?"),
                    (
                        "assistant",
                        "Because R depends on sin 2θ, which is largest (1) when 2θ = 90°, "
                        "that is θ = 45°. Angles θ and 90° − θ give the same range.",
                    ),
                ),
            ),
            DemoChat(
                "Integration by parts",
                (
                    (
                        "user",
                        "I'm stuck on integration by parts, which function should I pick first?",
                    ),
                    (
                        "assistant",
                        "Use the ILATE order to choose u: Inverse trig, Log, Algebraic, Trig, "
                        "Exponential. For ∫x eˣ dx take u = x, dv = eˣ dx: the result is "
                        "x eˣ − eˣ + C.",
                    ),
                ),
            ),
        ),
        quiz_topics=("physics.kinematics", "mathematics.indefinite_integration"),
    ),
    DemoPerson(
        "rohan",
        "Rohan Gupta",
        "learner",
        exam="JEE",
        grade="12",
        chats=(
            DemoChat(
                "Le Chatelier and pressure",
                (
                    (
                        "user",
                        "Le Chatelier's principle confuses me when the pressure changes.",
                    ),
                    (
                        "assistant",
                        "Raising the pressure pushes the equilibrium towards the side with "
                        "fewer moles of gas. In N₂ + 3H₂ ⇌ 2NH₃ there are 4 moles on the left "
                        "and 2 on the right, so more ammonia forms.",
                    ),
                    ("user", "And what if both sides have the same moles of gas?"),
                    (
                        "assistant",
                        "Then pressure has no effect on the position, as in H₂ + I₂ ⇌ 2HI.",
                    ),
                ),
            ),
            DemoChat(
                "Inverse of a matrix",
                (
                    (
                        "user",
                        "How do I find the inverse of a 3x3 matrix using determinants?",
                    ),
                    (
                        "assistant",
                        "A⁻¹ = adj(A) / |A|. Find |A| first (it must not be zero), then the "
                        "matrix of cofactors, transpose it to get adj(A), and divide by |A|.",
                    ),
                ),
            ),
        ),
        quiz_topics=("chemistry.chemical_equilibrium", "mathematics.determinants"),
    ),
    DemoPerson(
        "priya",
        "Priya Nair",
        "learner",
        exam="NEET",
        grade="12",
        chats=(
            DemoChat(
                "Mitosis vs meiosis",
                (
                    ("user", "What is the difference between mitosis and meiosis?"),
                    (
                        "assistant",
                        "Mitosis makes two identical diploid cells (growth, repair). Meiosis "
                        "makes four genetically different haploid gametes, with crossing over "
                        "in prophase I.",
                    ),
                ),
            ),
            DemoChat(
                "Dihybrid cross",
                (
                    (
                        "user",
                        "I keep getting the dihybrid cross ratio wrong. Is it always 9:3:3:1?",
                    ),
                    (
                        "assistant",
                        "Only in the F2 of two independently assorting genes with complete "
                        "dominance. A test cross (with the double recessive) gives 1:1:1:1.",
                    ),
                ),
            ),
        ),
        quiz_topics=("biology.mendelian_genetics", "biology.cell_division"),
    ),
    DemoPerson(
        "kabir",
        "Kabir Singh",
        "learner",
        exam="NEET",
        grade="11",
        chats=(
            DemoChat(
                "Coulomb's law",
                (
                    (
                        "user",
                        "Explain Coulomb's law and the electric field of a point charge.",
                    ),
                    (
                        "assistant",
                        "Two charges attract or repel with F = k q₁q₂ / r². The field of a "
                        "point charge is that force per unit test charge: E = k q / r², "
                        "pointing away from a positive charge.",
                    ),
                ),
            ),
            DemoChat(
                "How the nephron works",
                (
                    ("user", "How does the nephron filter blood in the kidney?"),
                    (
                        "assistant",
                        "Blood is filtered in the glomerulus into Bowman's capsule; the tubule "
                        "then reabsorbs glucose, salts and most water, and secretes wastes.",
                    ),
                ),
            ),
        ),
        quiz_topics=("physics.electric_field", "biology.excretion"),
    ),
    DemoPerson(
        "ananya",
        "Ananya Das",
        "learner",
        exam="UPSC",
        chats=(
            DemoChat(
                "Rights of citizens",
                (
                    ("user", "Which fundamental rights are available only to citizens?"),
                    (
                        "assistant",
                        "Articles 15, 16, 19, 29 and 30. The others, such as Article 14 and "
                        "Article 21, protect every person in India.",
                    ),
                ),
            ),
            DemoChat(
                "Repo rate and inflation",
                (
                    (
                        "user",
                        "I'm confused about how the repo rate controls inflation.",
                    ),
                    (
                        "assistant",
                        "When the RBI raises the repo rate, banks borrow at a higher cost and "
                        "lend at higher rates, so credit and spending slow and price pressure "
                        "eases.",
                    ),
                ),
            ),
        ),
        quiz_topics=("upsc_gs2.fundamental_rights", "upsc_gs3.monetary_policy"),
    ),
)
WELCOME: Final = (
    "Welcome to the evening batch! Post your doubts here any time; we revise one weak "
    "topic together every Sunday."
)


@dataclass
class DemoContext:
    passwords: Passwords
    password: str | None  # --demo-password; None: generate one if an account is created
    progress: ProgressService
    taxonomy: Taxonomy
    summary: Summary
    org: Organization | None = None  # the demo organization, found or created first
    generated: str | None = None


async def _org(summary: Summary) -> Organization:
    org = await orgs_service.find_by_slug(slug=ORG_SLUG)
    if org is not None:
        summary.count("organization", "unchanged")
        return org
    summary.count("organization", "created")
    # Invite-only: strangers signing up on a real deployment must not land in the demo.
    return await orgs_service.create_org(name=ORG_NAME, slug=ORG_SLUG, signup_open=False)


async def _person(ctx: DemoContext, person: DemoPerson) -> User | None:
    """The demo account, created if missing; an account with that email in another
    organization is somebody else's and is left alone (None)."""
    section = "mentors" if person.role == "mentor" else "learners"
    assert ctx.org is not None and ctx.org.id is not None
    user = await users_service.find_by_email(email=person.email)
    if user is not None:
        if user.org_id != ctx.org.id:
            ctx.summary.note(
                "skipped", person.email, "exists outside the demo organization", section=section
            )
            return None
        ctx.summary.count(section, "unchanged")
        return user
    if ctx.password is None and ctx.generated is None:
        ctx.generated = secrets.token_urlsafe(12)
    password = ctx.password or ctx.generated
    assert password is not None
    ctx.summary.count(section, "created")
    return await users_service.create_user(
        email=person.email,
        password_hash=await ctx.passwords.hash(password),
        role=person.role,
        org_id=ctx.org.id,
        profile=Profile(
            display_name=person.name, exam=person.exam, coaching=ORG_NAME, grade=person.grade
        ),
    )


async def _group(ctx: DemoContext, mentor: User, learners: Sequence[User]) -> None:
    assert mentor.id is not None
    group = await groups_service.find_created(
        org_id=mentor.org_id, name=GROUP_NAME, created_by=mentor.id
    )
    if group is None:
        group = await groups_service.create(user=mentor, body=GroupCreate(name=GROUP_NAME))
        ctx.summary.count("study group", "created")
    else:
        ctx.summary.count("study group", "unchanged")
    members = {m.user_id for m in group.members}
    for learner in learners:
        if learner.id in members:
            ctx.summary.count("group members", "unchanged")
        else:
            await groups_service.join(user=learner, body=GroupJoin(invite_code=group.invite_code))
            ctx.summary.count("group members", "created")
    plan = await plan_history(
        user=mentor,
        conversation_id=group.conversation_id,
        turns=[Turn("user", WELCOME, utcnow() - timedelta(days=3))],
        prefix=PREFIX,
        taxonomy=ctx.taxonomy,
    )
    ctx.summary.count("messages", "created", len(plan.new_messages))
    ctx.summary.count("messages", "unchanged", plan.stored)
    if plan.new_messages:
        await write_history(
            user=mentor, conversation_id=group.conversation_id, title=GROUP_NAME, plan=plan
        )


async def _learn(ctx: DemoContext, user: User, messages: Sequence[Message]) -> None:
    """What the chat does after a learner message is stored: memory evidence (as
    `memory.assess` judges it), then chat XP and the streak. Only for messages inserted now,
    so a rerun records nothing twice."""
    assert user.id is not None
    earlier: list[Sequence[TopicRef]] = []
    for message in messages:
        if message.role != "user":
            continue
        evidence = memory.assess(text=message.content, topics=message.topics, earlier=earlier)
        await memory.record(user.id, evidence, at=message.created_at)
        earlier.insert(0, message.topics)
        await ctx.progress.record_chat_message(user=user, at=message.created_at)


async def _chats(ctx: DemoContext, user: User, person: DemoPerson, now: datetime) -> None:
    for index, chat in enumerate(person.chats):
        start = now - timedelta(days=len(person.chats) - index, hours=2)
        turns = [
            Turn(role, text, start + timedelta(minutes=2 * n))
            for n, (role, text) in enumerate(chat.turns)
        ]
        conversation_id = stable_object_id("demo-conversation", person.email, str(index))
        plan = await plan_history(
            user=user,
            conversation_id=conversation_id,
            turns=turns,
            prefix=PREFIX,
            taxonomy=ctx.taxonomy,
        )
        ctx.summary.count("conversations", "unchanged" if plan.conversation_exists else "created")
        ctx.summary.count("messages", "created", len(plan.new_messages))
        ctx.summary.count("messages", "unchanged", plan.stored)
        if plan.new_messages or not plan.conversation_exists:
            result = await write_history(
                user=user, conversation_id=conversation_id, title=chat.title, plan=plan
            )
            await _learn(ctx, user, result.inserted)


async def _quizzes(ctx: DemoContext, user: User, person: DemoPerson, now: datetime) -> None:
    for index, topic_id in enumerate(person.quiz_topics):
        question = await quiz_bank.first_active_question(topic_id=topic_id)
        if question is None:
            ctx.summary.note(
                "skipped", person.email, f"no question for {topic_id}", section="quiz attempts"
            )
            continue
        last = index == len(person.quiz_topics) - 1
        option = (question.answer + 1) % len(question.options) if last else question.answer
        result = await quiz_service.answer(
            user=user,
            body=AttemptCreate(
                question_id=str(question.id),
                option=option,
                client_attempt_id=f"{PREFIX}:{question.key}",
            ),
            progress=ctx.progress,
            now=now - timedelta(minutes=30 - index),
        )
        ctx.summary.count("quiz attempts", "unchanged" if result.replayed else "created")


async def seed_demo(ctx: DemoContext) -> None:
    ctx.org = await _org(ctx.summary)
    mentor = await _person(ctx, MENTOR)
    now = utcnow()
    learners: list[tuple[User, DemoPerson]] = []
    with progress_bar("demo learners", len(LEARNERS)) as advance:
        for person in LEARNERS:
            user = await _person(ctx, person)
            if user is not None:
                learners.append((user, person))
        ids = [u.id for u, _ in learners if u.id is not None]
        xp_before, badges_before = await progress_service.award_counts(user_ids=ids)
        if mentor is not None:
            await _group(ctx, mentor, [u for u, _ in learners])
        for user, person in learners:
            await _chats(ctx, user, person, now)
            await _quizzes(ctx, user, person, now)
            advance(1)
    await ctx.progress.drain()
    xp_after, badges_after = await progress_service.award_counts(user_ids=ids)
    ctx.summary.count("xp awards", "created", xp_after - xp_before)
    ctx.summary.count("xp awards", "unchanged", xp_before)
    ctx.summary.count("achievements earned", "created", badges_after - badges_before)
    ctx.summary.count("achievements earned", "unchanged", badges_before)
    if ctx.generated is not None:
        ctx.summary.secrets.append(
            f"Password of the demo accounts created now (shown once, not stored): {ctx.generated}"
        )
    ctx.summary.footer.append(
        f"demo organization {ORG_SLUG!r}: mentor {MENTOR.email}, learners "
        + ", ".join(p.email for p in LEARNERS)
    )
