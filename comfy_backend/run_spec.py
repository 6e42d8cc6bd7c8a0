"""From a RunRequest to the JobSpec the pool runs, checked before anything is queued.

The request is prepared once with the node definitions of a server that may run it (the
pinned one, else the usable servers matching its target, in config order): the first
that accepts it gives the representative prompt and the random seeds; when none
accepts it, the first server's error is raised (ParameterError / WorkflowError), so the
caller can say "not submitted". Each server that runs the job gets the request prepared
again with its own node definitions (``JobSpec.build``), with the same seeds.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import WorkflowError
from .jobs import JobSpec, workflow_key
from .models import Health, ServerSnapshot
from .requests import RunRequest
from .workflow.formats import detect
from .workflow.prepare import api_prompt, prepare, prepare_with_seeds

__all__ = ["spec_for"]


def _candidates(request: RunRequest, servers: Sequence[ServerSnapshot],
                defs: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Node definitions to check the request against, best first."""
    target = request.target
    if target.server:
        return [defs[target.server]] if target.server in defs else []
    fitting = [s for s in servers if s.enabled and s.id in defs and set(target.tags) <= set(s.tags)]
    live = [s for s in fitting if s.health in (Health.ONLINE, Health.DEGRADED)]
    # Servers offline now still tell what their nodes accept, better than not checking.
    return [defs[s.id] for s in (live or fitting)]


def spec_for(request: RunRequest, servers: Sequence[ServerSnapshot],
             defs: Mapping[str, dict[str, Any]]) -> tuple[JobSpec, dict[str, int]]:
    """The job for ``request`` and the random seeds drawn for it (field key → seed).

    Raises ParameterError / WorkflowError when no candidate server's node definitions
    accept the request.
    """
    seeds: dict[str, int] = {}
    build = None
    if request.plain:
        prompt = api_prompt(request.workflow, None)  # an API prompt sent as it is: nothing to check here
    else:
        prompt = {}
        errors: list[WorkflowError] = []
        infos: list[dict[str, Any] | None] = list(_candidates(request, servers, defs))
        if not infos and detect(request.workflow) == "api":
            infos = [None]  # no definitions known yet: check what can be checked without them
        for info in infos:
            try:
                prompt, seeds = prepare_with_seeds(request, info)
            except WorkflowError as exc:
                errors.append(exc)
                continue
            break
        else:
            if errors:
                raise errors[0]
        resolved = request
        if seeds:
            resolved = dataclasses.replace(request, values={**request.values, **seeds}, random_seeds=())
        build = functools.partial(prepare, resolved)
    key = workflow_key(prompt) if prompt else _ui_key(request.workflow)
    spec = JobSpec(
        prompt=prompt,
        label=request.label,
        target=request.target,
        uploads=tuple(request.uploads),
        extra_data=dict(request.extra_data) if request.extra_data is not None else None,
        workflow_key=key,
        max_attempts=request.max_attempts,
        build=build,
        fetch_outputs=request.fetch_outputs,
    )
    return spec, seeds


def _ui_key(workflow: Mapping[str, Any]) -> str:
    """A duration key for a UI workflow not converted yet (no server's definitions known)."""
    return hashlib.sha1(json.dumps(workflow, sort_keys=True, default=str).encode()).hexdigest()[:16]
