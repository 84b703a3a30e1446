"""API tokens per user (django-rest-knox, stored hashed): create, list, revoke. A token carries its
user's permissions and never more; its secret is shown once, at creation. Creation and revocation
are recorded in the audit trail by `audit.signals`; every use by `docanalyst.auth`."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from docanalyst import serializers as R

MAX_EXPIRY_DAYS = 3650


def tokens_of(user: Any) -> QuerySet[AuthToken]:
    return AuthToken.objects.filter(user_id=user.pk).order_by("-created")


def token_create(user: User, expiry_days: int | None) -> tuple[AuthToken, str]:
    expiry = datetime.timedelta(days=expiry_days) if expiry_days else None
    return AuthToken.objects.create(user=user, expiry=expiry)


def token_payload(token: AuthToken) -> dict[str, Any]:
    return {
        "token_key": token.token_key,
        "created": token.created.isoformat(),
        "expiry": token.expiry.isoformat() if token.expiry else None,
    }


class TokenCreateSerializer(serializers.Serializer[Any]):
    expiry_days = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EXPIRY_DAYS)


class TokenListCreateApi(APIView):
    @extend_schema(responses=R.TokenListResponse, operation_id="tokens_list")
    def get(self, request: Request) -> Response:
        return Response({"results": [token_payload(t) for t in tokens_of(request.user)]})

    @extend_schema(request=TokenCreateSerializer, responses={201: R.TokenCreatedResponse})
    def post(self, request: Request) -> Response:
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance, secret = token_create(request.user, serializer.validated_data.get("expiry_days"))  # type: ignore[arg-type]
        return Response({**token_payload(instance), "token": secret}, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_key: str) -> Response:
        get_object_or_404(tokens_of(request.user), token_key=token_key).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@login_required
def tokens_view(request: HttpRequest) -> HttpResponse:
    """The user's tokens; creating one shows its secret on this response only."""
    created_secret = None
    if request.method == "POST":
        days = request.POST.get("expiry_days", "").strip()
        expiry_days = int(days) if days.isdigit() and 1 <= int(days) <= MAX_EXPIRY_DAYS else None
        _, created_secret = token_create(request.user, expiry_days)  # type: ignore[arg-type]
    context = {"tokens": tokens_of(request.user), "created_secret": created_secret}
    return render(request, "docanalyst/tokens.html", context)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_key: str) -> HttpResponse:
    get_object_or_404(tokens_of(request.user), token_key=token_key).delete()
    return redirect("tokens")
