"""The desk card reader: backends (PC/SC, serial), pure frame parsers, UID forms, and the service
that turns taps into `TagSeen` events. pyscard is imported only when the PC/SC backend runs."""

from appliance.rfid_reader.frames import FrameError, LineBase, SerialFormat
from appliance.rfid_reader.service import (
    ReaderCheck,
    ReaderService,
    ReaderSettings,
    ReadRecord,
    reader_check,
    reader_service,
)
from appliance.rfid_reader.uid import TagRead, UidForm, UidFormError, format_uid, learn_forms

__all__ = [
    "FrameError",
    "LineBase",
    "ReadRecord",
    "ReaderCheck",
    "ReaderService",
    "ReaderSettings",
    "SerialFormat",
    "TagRead",
    "UidForm",
    "UidFormError",
    "format_uid",
    "learn_forms",
    "reader_check",
    "reader_service",
]
