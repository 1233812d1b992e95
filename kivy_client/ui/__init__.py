"""The Kivy screens of the tablet app. The only package that imports Kivy.

``app.run(server_url)`` starts the app; screens are registered in ``screens.SCREENS``; each screen
has its own ``.kv`` file next to its module and calls its plain-Python presenter (``presenters/``).
"""

import os

# ``ruhu client --server URL``: Kivy must not parse the command line (it would reject --server).
os.environ.setdefault("KIVY_NO_ARGS", "1")
