"""The names a user gives us, checked before they reach Docker or the filesystem.

Image references follow Docker's reference grammar (distribution/reference)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] path-component ["/" path-component]*
    domain           := host [":" port-number]
    host             := domain-component ["." domain-component]* | "[" IPv6address "]"
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    port-number      := /[0-9]+/
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex, algorithm /[A-Za-z][A-Za-z0-9]*([+._-][A-Za-z][A-Za-z0-9]*)*/,
                        hex /[0-9a-fA-F]{32,}/

with a name of at most 255 characters. Nothing outside it (no `..`, `?`, `#`, `%`, spaces or control
characters) can be pasted into an Engine API URL. Agent names (built-in or added with `agents add`)
are one path component; run ids are what the gateway mints (16 hex digits) or, for runs started
directly on a runner, letters, digits, `_`, `.` and `-` starting with a letter or digit, at most 64.
"""

from __future__ import annotations

import re

from mleredux.errors import InvalidArgumentError

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
#: The name with an optional domain: a first component holding `.` or `:` (or `localhost`) is a domain,
#: as Docker decides; else every component is a path component.
_NAME_RE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_REFERENCE_RE = re.compile(rf"(?P<name>{_NAME_RE.pattern})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?")
#: Docker's limit on the name part of a reference.
NAME_TOTAL_LENGTH_MAX = 255

#: An agent under agent_images/ or added with `agents add`: one path component.
AGENT_NAME_RE = re.compile(rf"{_PATH_COMPONENT}")
AGENT_NAME_LENGTH_MAX = 64

RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _shown(value: str) -> str:
    """The value quoted for a message, cut so a megabyte of input does not come back in the reply."""
    return repr(value if len(value) <= 80 else value[:80] + "…")


def is_image_reference(reference: str) -> bool:
    """True when `reference` is a Docker image reference by the grammar above."""
    # Longer than any valid reference can be (name, tag, a sha512 digest): refused before the regex.
    if len(reference) > NAME_TOTAL_LENGTH_MAX + 1 + 128 + 1 + 140:
        return False
    match = _REFERENCE_RE.fullmatch(reference)
    if match is None or len(match.group("name")) > NAME_TOTAL_LENGTH_MAX:
        return False
    domain = match.group("domain")
    # Docker reads a first part as a registry host only when it has a `.` or `:` or is `localhost`;
    # otherwise it is a path component, and those are lowercase.
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        return re.fullmatch(_PATH_COMPONENT, domain) is not None
    return True


def check_image_reference(reference: str, what: str = "image") -> str:
    """`reference` when it is a valid Docker image reference; InvalidArgumentError otherwise."""
    if not is_image_reference(reference):
        raise InvalidArgumentError(
            f"{what} {_shown(reference)} is not a Docker image reference: expected NAME[:TAG][@DIGEST] with a "
            "name of lowercase letters, digits and the separators . _ - between them, in /-separated parts "
            "(optionally after a registry host), e.g. my-agent:v1"
        )
    return reference


def check_agent(agent: str) -> str:
    """An agent as CreateRun takes it: an agent name (one lowercase component) or an image reference."""
    if not agent:
        raise InvalidArgumentError("agent is required (e.g. dummy, or an image reference NAME:TAG)")
    if ":" in agent or "/" in agent or "@" in agent:
        return check_image_reference(agent, "agent")
    if len(agent) > AGENT_NAME_LENGTH_MAX or AGENT_NAME_RE.fullmatch(agent) is None:
        raise InvalidArgumentError(
            f"agent {_shown(agent)} is not an agent name (lowercase letters and digits, separated by . _ or -, "
            f"at most {AGENT_NAME_LENGTH_MAX}) nor an image reference NAME:TAG"
        )
    return agent


def check_run_id(run_id: str) -> str:
    """`run_id` when it has the format of a run id; InvalidArgumentError otherwise."""
    if RUN_ID_RE.fullmatch(run_id) is None:
        raise InvalidArgumentError(
            f"run_id {_shown(run_id)} is not a run id (letters, digits, _ . - starting with a letter or digit, "
            "at most 64)"
        )
    return run_id
