"""{{ cookiecutter.project_name | replace('"', "'") | replace('\\', '') }}."""
