"""`python -m bot` is `newsbot`."""

from bot.cli.main import main

main()
