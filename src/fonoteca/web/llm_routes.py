"""Web routes of the LLM stage: the chat page, the streaming chat API and episode analyses."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
