"""Wiring: configuration, the application, the command line's bot modes."""
