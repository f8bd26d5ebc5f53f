"""The change log: a table's stream as gzip JSON Lines objects on S3 or in a folder.

``format`` turns stream records into lines and batches into objects (pure); ``layout`` names
the objects and describes the small JSON records beside them (pure); ``writer`` and ``reader``
do the I/O through the backup storage protocol.
"""

from .format import ChangeRecord, decode_object, encode_object, record_from_stream
from .layout import GapMarker, Heartbeat, LogDescriptor, ObjectManifest, log_location
from .reader import Damage, LoggedRecord, LogWindow, read_window
from .writer import ChangeLogWriter, ShardPosition

__all__ = [
    "ChangeLogWriter",
    "ChangeRecord",
    "Damage",
    "GapMarker",
    "Heartbeat",
    "LogDescriptor",
    "LogWindow",
    "LoggedRecord",
    "ObjectManifest",
    "ShardPosition",
    "decode_object",
    "encode_object",
    "log_location",
    "read_window",
    "record_from_stream",
]
