"""Pure rules shared by the tablet and the server: wire models, entities, validation, merge, 五清.

Nothing here imports FastAPI, SQLAlchemy, Kivy or the ``server`` / ``kivy_client`` packages, so the
tablet and the server can never disagree about what a valid record or a conflict is.
"""

PROTOCOL_VERSION = 1
