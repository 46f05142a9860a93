"""Optimistic concurrency: strong ETags on every resource that can be edited or transitioned, and
`If-Match` honoured by every PATCH and transition POST (RFC 9110 sections 8.8.3 and 13.1.1).

An ETag is the resource's version in quotes (`"7"`). `If-Match: *` matches any current version; a
weak tag (`W/"7"`) never matches (If-Match compares strongly); a header that is not a list of entity
tags at all is 422. Services check the header under the resource's row lock (`IfMatch.check`), so two
editors of one version cannot both win: the second gets 412 `version_conflict`.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Header, Response

from erp.errors import InvalidRequest, VersionConflict

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E (obs-text refused); a comma-separated
# list with optional spaces or tabs (not \s, which means more in JSON Schema than in HTTP).
_TAG = r'(?:W/)?"[!#-~]*"'
IF_MATCH = rf"^[ \t]*(?:\*|{_TAG}(?:[ \t]*,[ \t]*{_TAG})*)[ \t]*$"
_LIST = re.compile(IF_MATCH)
_TAGS = re.compile(_TAG)

IfMatchHeader = Annotated[str | None, Header(
    alias="If-Match", max_length=1000, pattern=IF_MATCH,
    description='Only if the resource is still at this version: its ETag (`"7"`), a list of them, or `*`. '
                "Another version is 412 `version_conflict`; a weak tag never matches.")]


class Versioned(Protocol):
    version: int


@dataclass(frozen=True, slots=True)
class IfMatch:
    any: bool
    tags: frozenset[str]  # the strong tags, quotes included

    def check(self, current: int, what: str) -> None:
        if not self.any and etag(current) not in self.tags:
            raise VersionConflict(f"{what} is at version {etag(current)}, not "
                                  f"{', '.join(sorted(self.tags)) or 'the weak tag given'}; read it again.",
                                  extra={"etag": etag(current)})


def if_match(header: str | None) -> IfMatch | None:
    """The parsed `If-Match` header (None when absent); 422 when it is not one."""
    if header is None:
        return None
    if not _LIST.match(header):
        raise InvalidRequest('If-Match must be * or a list of entity tags such as "7".')
    if header.strip() == "*":
        return IfMatch(True, frozenset())
    return IfMatch(False, frozenset(tag for tag in _TAGS.findall(header) if not tag.startswith("W/")))


def etag(version: int) -> str:
    return f'"{version}"'


def tag(response: Response, version: int) -> None:
    """Say the resource's current version in the answer."""
    response.headers["ETag"] = etag(version)


V = TypeVar("V", bound=Versioned)


def tagged(response: Response, resource: V) -> V:
    """`resource`, its version said in the answer's ETag."""
    tag(response, resource.version)
    return resource


def check(header: str | None, current: int, what: str) -> None:
    """Parse and check `If-Match` against the current version (call it under the resource's lock)."""
    expected = if_match(header)
    if expected is not None:
        expected.check(current, what)
