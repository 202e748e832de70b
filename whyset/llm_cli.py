"""``whyset llm install|up|down|status``: the local llama.cpp server that lets anyone try the endpoint path of
the builders offline (``[models] endpoint = ...`` in a recipe); each command a few lines over
:mod:`whyset.builders.llm_server`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyset._app import console, llm_app
from whyset.errors import ServerUnreachable

__all__ = ["llm_app"]

LLMHomeOption = Annotated[Path | None, typer.Option(
    "--home", envvar="WHYSET_LLM_HOME", help="Where the server's state and log live (default: $WHYSET_HOME/llm-server).")]


@llm_app.command("install")
def llm_install() -> None:
    """Create the server's own venv with llama-cpp-python[server] (compiled on first use: 10-20 min)."""
    from whyset.builders.llm_server import install

    console.print(f"llama.cpp server venv: {install()}")


@llm_app.command("up")
def llm_up(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = None,
    model: Annotated[Path | None, typer.Option(help="GGUF model file (default: the bundled SmolLM2-135M).")] = None,
    alias: Annotated[str, typer.Option(help="Model name clients request (the recipe's generator).")] = "smollm2",
    threads: Annotated[int, typer.Option(help="llama.cpp threads (it serves one request at a time).")] = 1,
    home: LLMHomeOption = None,
) -> None:
    """Start the server (or show the running one) and print the recipe lines that use it."""
    from whyset.builders.llm_server import up

    server = up(home, port, model, alias, threads)
    console.print(f"{server.alias}: {server.url} (pid {server.pid}, model {server.model})")
    console.print(server.recipe)


@llm_app.command("down")
def llm_down(home: LLMHomeOption = None) -> None:
    """Stop the server `whyset llm up` started (by its verified PID)."""
    from whyset.builders.llm_server import down

    server = down(home)
    console.print(f"stopped {server.url}" if server else "no server running")


@llm_app.command("status")
def llm_status(home: LLMHomeOption = None) -> None:
    """Show the server; exit 4 when none runs or it does not answer."""
    from whyset.builders.llm_server import answers, current

    server = current(home)
    if server is None:
        raise ServerUnreachable("no local LLM server is running (start one with `whyset llm up`)")
    if not answers(server):
        raise ServerUnreachable(f"the local LLM server (pid {server.pid}) does not answer at {server.url}")
    console.print(f"{server.alias}: {server.url} (pid {server.pid}, model {server.model})")
