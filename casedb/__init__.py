"""The case database shared by the console, the rules service and the report workers.

Nothing in this package imports Flask: every process uses the same models, sessions,
importers and change-event outbox directly.
"""
