"""The logging channel: writes the message to the application log (development, the demo, and any
channel whose endpoint is not configured)."""
from __future__ import annotations

import logging

from jifen.tenants.notifications.channels import Message, Permanent, SendResult

logger = logging.getLogger("jifen.notifications")


class LoggingChannel:
    name = "log"

    def send(self, message: Message) -> SendResult:
        if not message.to:
            raise Permanent("no address")
        logger.info("notification %s via %s (log) to %s [%s]: %s %s", message.id, message.channel, message.to,
                    message.locale, message.text, message.link)
        return SendResult("log", f"log:{message.id}")
