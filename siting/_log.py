"""siting's messages: one logger, ``logging.getLogger("siting")``.

Progress steps ("读取输入 reading inputs ...") are ``INFO``, things a planner should look at
("提示 WARNING ...") are ``WARNING``. Out of the box they go to standard error as
``[siting] message`` (the stream is looked up at each message, so notebooks and captured
output see them); configure the ``siting`` logger to send them elsewhere or to silence them
(``logging.getLogger("siting").setLevel(logging.WARNING)``). Progress bars stay tqdm's.

>>> import logging
>>> logger.name, logger.level == logging.INFO
('siting', True)
"""

from __future__ import annotations

import logging
import sys

__all__ = ["info", "logger", "warning"]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a message is emitted."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        # not setStream: it flushes the old stream, which a test harness or a notebook may
        # have closed since
        self.stream = sys.stderr
        super().emit(record)


#: The logger of every siting message.
logger = logging.getLogger("siting")
if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("[siting] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def debug(text: str) -> None:
    """A detail for whoever debugs (hidden by default)."""
    logger.debug(text)


def info(text: str) -> None:
    """A progress message."""
    logger.info(text)


def warning(text: str) -> None:
    """A message a planner should read."""
    logger.warning(text)
