"""The command-line tools' bodies: each module has ``main(argv=None) -> int``.

They are installed as console scripts (``[project.scripts]`` in pyproject.toml) and
``tools/<name>.py`` runs them from a clone.
"""
