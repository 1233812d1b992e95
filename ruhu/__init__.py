"""The ``ruhu`` launcher: the only module that knows both the server and the tablet app."""
