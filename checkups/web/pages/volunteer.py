"""(being written: pages for this job)."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    return APIRouter(include_in_schema=False)
