"""Mail: `service.send_mail` queues one message; a background job delivers it
(docs/ACCOUNTS.md)."""
