"""Telegram handlers, one module per area."""
