"""Prompt sets: the questions of the intention, quick-capture and integration flows.

Published versions are never edited. A change is a new version of the kind (``integration-v2``), which
new entries use from then on; an answer already written keeps the prompt text it was shown, because the
journal stores that text with the answer and older versions stay in the database.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException

from server.admin import queries
from server.admin.schemas import AdminPrompt, PromptIn, PromptSetIn, PromptSetVersion
from server.admin.validation import InvalidFields
from server.clock import Clock, iso
from server.db import Database
from server.errors import ConflictError
from server.journal import queries as journal_queries
from server.security import audit
from server.security.audit import Actor

KIND_NAMES = {"intention": "Intention", "quick_capture": "Quick capture", "integration": "Integration reflection"}
TITLE_PROBLEM = "Enter a title of up to 100 characters."
INTRO_PROBLEM = "Keep the introduction to 500 characters."
PROMPTS_PROBLEM = "Give at least one prompt, and at most 30."
PROMPT_PROBLEMS = {
    "id": "the id is a lower-case word: a letter, then letters, digits or _ (up to 40)",
    "text": "enter the question, up to 300 characters",
    "hint": "keep the hint to 300 characters",
    "duplicate": "another prompt already has this id",
}


def prompt_problem(index: int, part: str) -> str:
    return f"Prompt {index + 1}: {PROMPT_PROBLEMS[part]}."


def set_id(kind: str, version: int) -> str:
    """The naming the first versions use: integration-v1, quick-capture-v1."""
    return f"{kind.replace('_', '-')}-v{version}"


# --- reading ---------------------------------------------------------------------------------------------


async def versions(db: Database) -> list[PromptSetVersion]:
    rows = await queries.prompt_sets(db)
    by_set: dict[str, list[AdminPrompt]] = {row["id"]: [] for row in rows}
    for p in await queries.prompts(db, list(by_set)):
        by_set[p["prompt_set_id"]].append(AdminPrompt(id=p["prompt_id"], text=p["text"], hint=p["hint"]))
    return [
        PromptSetVersion(
            id=row["id"],
            kind=row["kind"],
            version=row["version"],
            title=row["title"],
            intro=row["intro"],
            created_at=row["created_at"],
            current=bool(row["current"]),
            prompts=by_set[row["id"]],
        )
        for row in rows
    ]


async def starting_point(db: Database, kind: str, from_id: str | None) -> PromptSetIn | None:
    """What the "new version" form starts from: a chosen version of the kind, else its current one."""
    if from_id:
        row = await journal_queries.prompt_set(db, from_id)
    else:
        row = await journal_queries.current_prompt_set(db, kind)
    if row is None or row["kind"] != kind:
        if from_id:
            raise NotFoundException("No such prompt set.")
        return None
    rows = await queries.prompts(db, [row["id"]])
    prompts = [PromptIn(id=p["prompt_id"], text=p["text"], hint=p["hint"]) for p in rows]
    return PromptSetIn(kind=kind, title=row["title"], intro=row["intro"], prompts=prompts)  # type: ignore[arg-type]


# --- publishing ------------------------------------------------------------------------------------------


def normalised(data: PromptSetIn) -> PromptSetIn:
    prompts = [PromptIn(id=p.id, text=p.text.strip(), hint=p.hint.strip()) for p in data.prompts]
    return PromptSetIn(kind=data.kind, title=data.title.strip(), intro=data.intro.strip(), prompts=prompts)


def problems(data: PromptSetIn) -> dict[str, str]:
    """What the schema cannot say: text that is only spaces, and two prompts with one id (an answer
    names its prompt by id, so ids must be unique within a set)."""
    found = {}
    if not data.title:
        found["title"] = TITLE_PROBLEM
    seen: set[str] = set()
    for index, prompt in enumerate(data.prompts):
        if not prompt.text:
            found[f"prompts[{index}].text"] = prompt_problem(index, "text")
        if prompt.id in seen:
            found[f"prompts[{index}].id"] = prompt_problem(index, "duplicate")
        seen.add(prompt.id)
    return found


async def publish(db: Database, clock: Clock, actor: Actor, data: PromptSetIn) -> PromptSetVersion:
    """Add ``data`` as the next version of its kind; from now on new entries of that kind use it."""
    data = normalised(data)
    found = problems(data)
    if found:
        raise InvalidFields(found)
    now = iso(clock.now())
    async with db.transaction() as conn:
        # Inside the write transaction, so two admins publishing at once get consecutive versions.
        version = await queries.next_prompt_set_version(conn, data.kind)
        new_id = set_id(data.kind, version)
        if await queries.prompt_set_exists(conn, new_id):
            raise ConflictError(f"A prompt set called {new_id} already exists.")
        published = PromptSetVersion(
            id=new_id,
            kind=data.kind,
            version=version,
            title=data.title,
            intro=data.intro,
            created_at=now,
            current=True,  # the highest version of its kind, and active
            prompts=[AdminPrompt(id=p.id, text=p.text, hint=p.hint) for p in data.prompts],
        )
        await queries.insert_prompt_set(
            conn,
            {
                "id": new_id,
                "kind": data.kind,
                "version": version,
                "title": data.title,
                "intro": data.intro,
                "created_at": now,
            },
        )
        await queries.insert_prompts(conn, new_id, [(p.id, p.text, p.hint) for p in data.prompts])
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="prompt_set.published",
            object_type="prompt_set",
            object_id=new_id,
            detail={"kind": data.kind, "version": version, "prompts": len(data.prompts)},
        )
    return published
