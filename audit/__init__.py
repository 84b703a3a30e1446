"""The append-only, hash-chained audit trail. Record with `audit.services.audit_record`; verify with
`manage.py verify_audit`; compliance officers read it at /audit/."""
