"""IR → executable code.  `python` emits a typed, dependency-free Python module."""
