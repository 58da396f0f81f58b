"""Chat conversations about the archive (`ConversationStore`): each one's scope (a show, an episode, or the whole
archive) and its messages with their citations.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from fonoteca.archive.database import Database
from fonoteca.archive.models import Message
from fonoteca.archive.tables import conversations, messages


class ConversationStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_conversation(
        self, conversation_id: str, show_id: int | None = None, episode_id: str | None = None
    ) -> None:
        with self.database.transaction() as db:
            db.execute(
                self.database.insert(conversations)
                .values(id=conversation_id, show_id=show_id, episode_id=episode_id)
                .on_conflict_do_nothing()
            )

    def conversation_scope(self, conversation_id: str) -> tuple[int | None, str | None]:
        """The show and episode a conversation was started about ((None, None): the whole archive, or no such
        conversation)."""
        rows = self.database.query(
            select(conversations.c.show_id, conversations.c.episode_id).where(conversations.c.id == conversation_id)
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def add_message(
        self, conversation_id: str, role: str, content: str, citations: list[dict[str, Any]] | None = None
    ) -> None:
        with self.database.transaction() as db:
            db.execute(
                insert(messages).values(
                    conversation_id=conversation_id, role=role, content=content,
                    citations=json.dumps(citations, ensure_ascii=False) if citations else None,
                )
            )  # fmt: skip

    def messages(self, conversation_id: str) -> list[Message]:
        rows = self.database.query(
            select(messages.c.role, messages.c.content, messages.c.citations, messages.c.created_at)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id)
        )
        return [
            Message(r.role, r.content, json.loads(r.citations) if r.citations else None, r.created_at) for r in rows
        ]
