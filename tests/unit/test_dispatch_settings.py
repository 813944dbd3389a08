"""The dispatch settings: how often and how patiently a supplier order is sent, and when silence is a problem."""
import pytest

from app.config import Config, ConfigError


def test_dispatch_defaults_match_the_documented_settings():
    config = Config.from_environ({"DROPDESK_ENV": "test"})
    assert (config.dispatch_attempts, config.dispatch_backoff_seconds, config.ack_deadline_hours) == (4, (5, 30, 120), 24)


def test_the_backoff_is_read_as_whole_seconds_separated_by_commas():
    config = Config.from_environ({"DROPDESK_ENV": "test", "DISPATCH_BACKOFF_SECONDS": " 0, 2 ,10 ", "DISPATCH_ATTEMPTS": "2"})
    assert (config.dispatch_backoff_seconds, config.dispatch_attempts) == ((0, 2, 10), 2)


@pytest.mark.parametrize(("name", "raw"), [("DISPATCH_BACKOFF_SECONDS", "5,soon"), ("DISPATCH_BACKOFF_SECONDS", ""),
                                           ("DISPATCH_BACKOFF_SECONDS", "5,-1"), ("DISPATCH_ATTEMPTS", "0"),
                                           ("ACK_DEADLINE_HOURS", "a day")])
def test_a_malformed_dispatch_setting_is_refused_at_start_naming_it(name, raw):
    with pytest.raises(ConfigError, match=name):
        Config.from_environ({"DROPDESK_ENV": "test", name: raw})
