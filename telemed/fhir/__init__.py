"""The FHIR R4 facade's plumbing (issue 14), shared by every resource the portal serves over FHIR.

- ``search``: pure — search-parameter parsing (dates, references, ids), the searchset Bundle, the
  OperationOutcome, the portal's code systems. No database, no request.
- ``views``: the DRF side — the ``application/fhir+json`` renderer, the base read/search view
  (scoping, keyset paging, OperationOutcome errors, JL-C8 access logging hooks) and the
  CapabilityStatement built from the registered resource views.
- ``urls``: the routes under ``/api/v1/fhir/`` (the AuditEvent routes stay in ``audit.api.urls``).

The resources themselves are mapped in their apps (``consultations/fhir.py``,
``facilities/fhir.py``, ``audit/fhir.py``); docs/fhir.md has the mapping tables.
"""
