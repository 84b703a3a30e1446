"""REST endpoints for collections and documents (`/api/v1/`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import selectors, services
from ingest.models import Collection, Document


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
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    collection = serializers.CharField(
        required=False, allow_blank=True, help_text="Collection id or name (created if new)."
    )


def resolve_collection(user: object, value: str | None) -> Collection:
    """A collection id the user may read, a collection name (created if new), or the default."""
    if not value:
        return services.collection_default()
    if value.isdigit():
        return get_object_or_404(selectors.collections_readable_by(user), pk=int(value))  # type: ignore[arg-type]
    return services.collection_get_or_create(name=value, user=user)  # type: ignore[arg-type]


class DocumentListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=DocumentSerializer(many=True))
    def get(self, request: Request) -> Response:
        documents = selectors.documents_visible_to(request.user)[:500]
        return Response(DocumentSerializer(documents, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={202: inline_serializer("UploadResult", {"documents": DocumentSerializer(many=True)})},
    )
    def post(self, request: Request) -> Response:
        files = request.FILES.getlist("file")
        serializer = UploadSerializer(data={"file": files, "collection": request.POST.get("collection", "")})
        serializer.is_valid(raise_exception=True)
        collection = resolve_collection(request.user, serializer.validated_data.get("collection"))
        try:
            documents = services.documents_create(collection=collection, uploaded_files=files, user=request.user)
        except ValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"documents": DocumentSerializer(documents, many=True).data}, status=status.HTTP_202_ACCEPTED)


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentSerializer)
    def get(self, request: Request, document_id: int) -> Response:
        document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
        return Response(DocumentSerializer(document).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, document_id: int) -> Response:
        document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
        services.document_delete(document)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CollectionListApi(APIView):
    @extend_schema(responses=CollectionSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(CollectionSerializer(selectors.collections_readable_by(request.user), many=True).data)
