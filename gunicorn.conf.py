"""gunicorn reads this file from the working directory (the Procfile's and the benches' alike)."""
import gc


def post_worker_init(worker):
    # Everything the app allocated while loading (models, metadata, templates) moves out of the garbage
    # collector's sight: later full collections scan only what requests create, not the whole app.
    gc.collect()
    gc.freeze()
