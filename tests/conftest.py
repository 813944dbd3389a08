"""Shared test settings: the app under test never reads the developer's .env."""
import os

os.environ["DROPDESK_ENV"] = "test"
