"""LLM routes of the web archive (chat page, streaming chat API, analyses)."""

from fastapi import APIRouter

router = APIRouter()
