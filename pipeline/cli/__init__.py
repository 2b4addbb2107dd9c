"""The ``toka`` command line. Each subcommand is a module with ``register(subparsers)``."""
