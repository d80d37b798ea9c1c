"""The collector's HTTP listeners: ASGI applications served by uvicorn (``server``), and the one
place their request bodies are read (``body``)."""
