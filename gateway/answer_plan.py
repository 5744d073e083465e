"""Build one request's AnswerPlan: the values its signer injected, the fields its principal may not read."""

from __future__ import annotations

from aiohttp import web

from gateway.admission import Admitted
from gateway.answers.fields import FieldFilter
from gateway.answers.guard import CredentialGuard
from gateway.answers.headers import PublicUrl
from gateway.answers.relay import AnswerPlan
from gateway.policy.engine import PolicySet
from gateway.proxy.upstream import Upstream


def plan_answer(policies: PolicySet, up: Upstream, admitted: Admitted, request: web.Request) -> AnswerPlan:
    config = up.config
    denied = policies.denied_fields(admitted.principal, config.name, admitted.operations)
    return AnswerPlan(
        guard=CredentialGuard(admitted.out.secrets),
        fields=FieldFilter(denied, up.dialect.answer_fields) if denied else None,
        max_bytes=config.max_answer_bytes,
        public=PublicUrl(
            config.origin, config.base_path, f"{request.scheme}://{request.host}", config.path_prefix or ""
        ),
    )
