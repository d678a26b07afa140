"""The Flask-AppBuilder console over the case database, for every role."""
