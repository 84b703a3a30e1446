"""Summaries made before compliance work (one document each) become records of the new kind:
done, with their document in `documents` and its version in `sources`. A migration of its own:
on PostgreSQL, changing rows and altering their table in one transaction can fail."""

from django.db import migrations


def summaries_from_single_documents(apps, schema_editor):
    Summary = apps.get_model("docanalyst", "Summary")
    for summary in Summary.objects.select_related("document__collection"):
        document = summary.document
        summary.documents.add(document)
        summary.sources = [
            {
                "document_id": document.pk,
                "title": document.title,
                "path": document.path,
                "version": document.version,
                "sha256": summary.document_sha256,
                "collection": document.collection.name,
            }
        ]
        summary.status, summary.progress, summary.stage = "done", 100, "done"
        summary.title = f"Executive summary: {document.title}"[:500]
        summary.finished_at = summary.created_at
        summary.save()


class Migration(migrations.Migration):
    dependencies = [("docanalyst", "0003_compliance_work")]

    operations = [migrations.RunPython(summaries_from_single_documents, migrations.RunPython.noop)]
