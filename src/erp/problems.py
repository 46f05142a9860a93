"""`/problems/{code}`: what each problem `type` URI names, as a small page for the people reading one."""

from html import escape
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from erp.errors import PROBLEM_JSON, NotFound, problem_catalogue, problem_type

router = APIRouter(tags=["problems"])


@router.get(
    "/problems/{code}",
    response_class=HTMLResponse,
    responses={
        200: {"description": "What the problem means", "content": {"text/html": {"schema": {"type": "string"}}}},
        404: {"description": "No such problem code", "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
    },
)
async def describe_problem(code: Annotated[str, Path(description="A problem's `code`")]) -> HTMLResponse:
    """The page a problem's `type` URI names: its title, its `code` and what it means."""
    catalogue = problem_catalogue()
    if code not in catalogue:
        raise NotFound(f"No problem code {code!r}.")
    title, meaning = catalogue[code]
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1><p>Problem type <code>{escape(problem_type(code))}</code>, "
        f"<code>code</code>: <code>{escape(code)}</code>.</p><p>{escape(meaning)}</p></body></html>"
    )
    return HTMLResponse(page)
