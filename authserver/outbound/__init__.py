"""Outbound deliveries: HTTP POSTs the server owes others (back-channel logout tokens, pushed security
events), queued in the outbox (``store/outbox.py``) and delivered by a worker, never on a request thread."""
