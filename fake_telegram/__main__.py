"""``python -m fake_telegram``: see ``fake_telegram.standalone``."""

from fake_telegram.standalone import main

main()
