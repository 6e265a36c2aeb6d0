"""Mailing a nightly report over SMTP when the boot settings name a server and recipients.
smtplib blocks, so it runs in a worker thread; the outcome is stored on the report, where the
pages show a failure, and a failed mail is tried again on the next hourly catch-up."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    user: str
    password: str
    sender: str
    recipients: tuple[str, ...]

    @property
    def configured(self) -> bool:
        return bool(self.host and self.recipients)

    @classmethod
    def from_settings(cls, settings: Any) -> MailSettings:
        # getattr: the boot settings gain these fields in config.py, which another room owns.
        raw = getattr(settings, "report_recipients", "") or ""
        recipients = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return cls(str(getattr(settings, "smtp_host", "") or ""),
                   int(getattr(settings, "smtp_port", 25) or 25),
                   str(getattr(settings, "smtp_user", "") or ""),
                   str(getattr(settings, "smtp_password", "") or ""),
                   str(getattr(settings, "smtp_from", "") or "appliance@localhost"),
                   tuple(r.strip() for r in recipients if r.strip()))


def _send(mail: MailSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(mail.host, mail.port, timeout=20) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if mail.user:
            smtp.login(mail.user, mail.password)
        smtp.send_message(message)


async def send_report(mail: MailSettings, subject: str, text: str,
                      attachments: dict[str, str]) -> str:
    """Send; return "" on success or the reason it failed (never raises for SMTP trouble)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.recipients)
    message.set_content(text)
    for name, body in attachments.items():
        message.add_attachment(body.encode("utf-8"), maintype="text", subtype="csv",
                               filename=name)
    try:
        await asyncio.to_thread(_send, mail, message)
    except (OSError, smtplib.SMTPException) as err:
        return f"{type(err).__name__}: {err}"[:500]
    return ""
