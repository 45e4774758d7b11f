"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from seals.uscc import validate_uscc

from .container import Container

__all__ = ["ContainerDep", "checked_uscc"]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(_container)]


def checked_uscc(uscc: str) -> str:
    """A path USCC that breaks GB 32100-2015 is a 422 ``invalid_uscc``, not a 404."""
    return validate_uscc(uscc)
