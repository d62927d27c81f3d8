"""The job layer: faxes queued, sent, received and their events, between the API and the call engines."""
