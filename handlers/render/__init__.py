"""Pure rendering: records in, chat HTML, PDF, PNG or CSV bytes out (no Telegram, no database)."""
