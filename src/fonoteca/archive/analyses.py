"""The language model's analyses of episodes (`AnalysisStore`): one per episode, kind and parameters, with the
model, prompt version and transcript revision it was made from (fonoteca.llm decides when one is stale).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, select

from fonoteca.archive.database import Database
from fonoteca.archive.models import Analysis
from fonoteca.archive.tables import analyses, utc_now


class AnalysisStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def get_analysis(self, episode_id: str, kind: str, params: str = "") -> Analysis | None:
        rows = self.database.query(
            select(analyses).where(
                analyses.c.episode_id == episode_id, analyses.c.kind == kind, analyses.c.params == params
            )
        )
        return _analysis(rows[0]) if rows else None

    def list_analyses(self, episode_id: str) -> list[Analysis]:
        rows = self.database.query(
            select(analyses).where(analyses.c.episode_id == episode_id).order_by(analyses.c.kind, analyses.c.params)
        )
        return [_analysis(r) for r in rows]

    def save_analysis(self, analysis: Analysis) -> None:
        statement = self.database.insert(analyses).values(
            episode_id=analysis.episode_id, kind=analysis.kind, params=analysis.params, model=analysis.model,
            prompt_version=analysis.prompt_version, transcript_rev=analysis.transcript_rev,
            result=json.dumps(analysis.result, ensure_ascii=False),
        )  # fmt: skip
        replaced = {name: statement.excluded[name] for name in ("model", "prompt_version", "transcript_rev", "result")}
        with self.database.transaction() as db:
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[analyses.c.episode_id, analyses.c.kind, analyses.c.params],
                    set_={**replaced, "created_at": utc_now()},
                )
            )


def _analysis(row: Row[Any]) -> Analysis:
    return Analysis(**{**row._mapping, "result": json.loads(row.result)})
