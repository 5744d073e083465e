"""Build one request's AnswerPlan: the values its signer injected, the fields its principal may not read."""

from __future__ import annotations

from aiohttp import web

from gateway.admission import Admitted
from gateway.admission_memo import answer_fields
from gateway.answers.guard import CredentialGuard
from gateway.answers.headers import PublicUrl
from gateway.answers.relay import AnswerPlan
from gateway.policy.engine import PolicySet
from gateway.proxy.upstream import Upstream


def plan_answer(policies: PolicySet, up: Upstream, admitted: Admitted, request: web.Request) -> AnswerPlan:
    config = up.config
    plan = admitted.plan
    fields = (
        plan.fields
        if plan is not None
        else answer_fields(policies, up, admitted.principal, admitted.operations)
    )
    return AnswerPlan(
        guard=CredentialGuard(admitted.out.secrets),
        fields=fields,
        max_bytes=config.max_answer_bytes,
        public=PublicUrl(
            config.origin, config.base_path, f"{request.scheme}://{request.host}", config.path_prefix or ""
        ),
    )
