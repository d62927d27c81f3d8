"""The telnyx dialect (see ../shared/seeds): routes and the mapping of our fax objects to its own."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.service import Gateway


def router(gateway: Gateway) -> APIRouter:
    return APIRouter()
