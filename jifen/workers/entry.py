"""Worker and beat entry point: `celery -A jifen.workers.entry worker` / `... beat`."""
from jifen import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
