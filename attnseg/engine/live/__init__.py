"""The live path: cameras, URLs and files streamed through threads and bounded queues (see attnseg.engine)."""
