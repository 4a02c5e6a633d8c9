"""Domain layer: money, customers, bills, payments and reports over aiomysql (no Telegram)."""
