"""Telegram front end: answers questions in chats with cited extracts (``python -m bot``)."""
