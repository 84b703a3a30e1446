"""REST endpoints for collections and documents (`/api/v1/`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import selectors, services, uploads
from ingest.http import (
    audit_batch_created,
    audit_document_deleted,
    resolve_collection,
    writable_batch,
    writable_document,
)
from ingest.models import Batch, Collection, Document


class DocumentSerializer(serializers.ModelSerializer[Document]):
    collection = serializers.CharField(source="collection.name", read_only=True)
    collection_id = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "original_name",
            "path",
            "version",
            "collection",
            "collection_id",
            "status",
            "stage",
            "progress",
            "error",
            "mime_type",
            "size_bytes",
            "sha256",
            "page_count",
            "chunk_count",
            "created_at",
            "updated_at",
            "ready_at",
            "url",
        ]

    def get_url(self, document: Document) -> str:
        return reverse("document-detail", args=[document.pk])


class CollectionSerializer(serializers.ModelSerializer[Collection]):
    class Meta:
        model = Collection
        fields = ["id", "name", "description", "created_at"]


class UploadSerializer(serializers.Serializer[None]):
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False, min_length=1)
    collection = serializers.CharField(
        required=False, allow_blank=True, help_text="Collection id or name (created if new)."
    )


class ManifestEntrySerializer(serializers.Serializer[Any]):
    path = serializers.CharField()
    outcome = serializers.CharField(
        help_text="ingested | processing | duplicate | failed | skipped | queued | unpacked"
    )
    reason = serializers.CharField(allow_blank=True)
    document_id = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField()


class BatchProgressSerializer(serializers.Serializer[Any]):
    state = serializers.CharField(help_text="unpacking | processing | done | failed | cancelled")
    documents = serializers.IntegerField()
    ready = serializers.IntegerField()
    failed = serializers.IntegerField()
    remaining = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    skipped = serializers.IntegerField()
    percent = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField()
    pages_per_second = serializers.FloatField()
    chunks_per_second = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)


def batch_payload(batch: Batch, manifest: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": batch.pk,
        "name": batch.name,
        "collection": batch.collection.name,
        "collection_id": batch.collection_id,
        "error": batch.error,
        "created_at": batch.created_at.isoformat(),
        "url": reverse("batch-detail", args=[batch.pk]),
        "progress": asdict(selectors.batch_progress(batch)),
    }
    if manifest:
        payload["manifest"] = [asdict(entry) for entry in selectors.batch_manifest(batch)]
    return payload


class BatchSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    collection = serializers.CharField()
    collection_id = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    url = serializers.CharField()
    progress = BatchProgressSerializer()
    manifest = ManifestEntrySerializer(many=True, required=False, help_text="In the batch, not in the list.")


class DocumentListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=DocumentSerializer(many=True))
    def get(self, request: Request) -> Response:
        documents = selectors.documents_visible_to(request.user)[:500]
        return Response(DocumentSerializer(documents, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={
            202: inline_serializer(
                "UploadResult", {"documents": DocumentSerializer(many=True), "batch": BatchSerializer()}
            )
        },
        description="Files and archives (zip, tar, tar.gz/bz2/xz, 7z) become one batch. `documents` lists the "
        "documents created right away; archives are unpacked by a worker and their members appear in the batch's "
        "manifest (`GET /api/v1/batches/<id>`), as do duplicates.",
    )
    def post(self, request: Request) -> Response:
        files = request.FILES.getlist("file")
        serializer = UploadSerializer(data={"file": files, "collection": request.POST.get("collection", "")})
        serializer.is_valid(raise_exception=True)
        try:
            collection = resolve_collection(request.user, serializer.validated_data.get("collection"))
            batch = uploads.batch_create_from_uploads(collection=collection, files=files, user=request.user)
        except ValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        audit_batch_created(request, batch)
        documents = Document.objects.filter(batch=batch).select_related("collection").order_by("pk")
        return Response(
            {"documents": DocumentSerializer(documents, many=True).data, "batch": batch_payload(batch)},
            status=status.HTTP_202_ACCEPTED,
        )


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentSerializer)
    def get(self, request: Request, document_id: int) -> Response:
        document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
        return Response(DocumentSerializer(document).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, document_id: int) -> Response:
        document = writable_document(request.user, document_id)
        audit_document_deleted(request, document)
        services.document_delete(document)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentRetryApi(APIView):
    @extend_schema(request=None, responses=DocumentSerializer)
    def post(self, request: Request, document_id: int) -> Response:
        document = writable_document(request.user, document_id)
        if not services.document_retry(document):
            return Response(
                {"detail": f"Only failed or cancelled documents are retried; this one is {document.status}."},
                status=status.HTTP_409_CONFLICT,
            )
        document.refresh_from_db()
        return Response(DocumentSerializer(document).data)


class BatchListApi(APIView):
    @extend_schema(responses=BatchSerializer(many=True), operation_id="batches_list")
    def get(self, request: Request) -> Response:
        return Response([batch_payload(b, manifest=False) for b in selectors.batches_visible_to(request.user)[:100]])


class BatchDetailApi(APIView):
    @extend_schema(responses=BatchSerializer)
    def get(self, request: Request, batch_id: int) -> Response:
        batch = get_object_or_404(selectors.batches_visible_to(request.user), pk=batch_id)
        return Response(batch_payload(batch))


class BatchCancelApi(APIView):
    @extend_schema(request=None, responses=BatchSerializer)
    def post(self, request: Request, batch_id: int) -> Response:
        batch = writable_batch(request.user, batch_id)
        uploads.batch_cancel(batch)
        batch.refresh_from_db()
        return Response(batch_payload(batch))


class BatchRetryApi(APIView):
    @extend_schema(request=None, responses=BatchSerializer)
    def post(self, request: Request, batch_id: int) -> Response:
        batch = writable_batch(request.user, batch_id)
        uploads.batch_retry_failed(batch)
        batch.refresh_from_db()
        return Response(batch_payload(batch))


class CollectionListApi(APIView):
    @extend_schema(responses=CollectionSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(CollectionSerializer(selectors.collections_readable_by(request.user), many=True).data)
