"""The Kivy screens of the tablet app. The only package that imports Kivy.

``app.run(server_url)`` starts the app; screens are registered in ``screens.SCREENS``; each screen
has its own ``.kv`` file next to its module and calls plain Python objects (``controller``).
"""
