from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("docanalyst", "0004_summaries_from_single_documents")]

    operations = [
        migrations.RemoveField(
            model_name='summary',
            name='document',
        ),
        migrations.RemoveField(
            model_name='summary',
            name='document_sha256',
        ),
    ]
