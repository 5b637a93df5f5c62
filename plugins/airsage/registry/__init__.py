"""Track training runs and register blessed models with an approval status.

``base`` holds the types and the protocol, ``local`` the MLflow implementation (SQLite
store), ``step.condition_and_register`` the step that evaluates the champion, blesses the
candidate and registers it (``step.registration_request`` names the version it registers).
Import those modules directly: this package stays light.
"""
