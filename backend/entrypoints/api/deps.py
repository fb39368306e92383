"""Dependencies shared by routes: the container and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from backend.bootstrap import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    """A session that rolls back unless the route's service committed."""
    with container.uow() as uow:
        yield uow.session


SessionDep = Annotated[Session, Depends(get_session)]
