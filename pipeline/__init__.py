"""Stream processors (Faust), sinks, the embedded broker launcher and the ``toka`` command."""
