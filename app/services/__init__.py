"""Use cases. Each owns its transaction; views, jobs and the CLI call them alike."""


class ServiceError(ValueError):
    """A request the business refuses; the message is shown to the person as it is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
