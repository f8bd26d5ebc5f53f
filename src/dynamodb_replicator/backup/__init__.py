"""Backups you can restore and trust: gzip JSON Lines per segment, manifests, streaming.

``run_backup`` / ``run_restore`` / ``run_verify`` run whole jobs; ``backup_segment``,
``restore_segment`` and ``verify_segment_task`` run one segment anywhere (module-level,
frozen-dataclass arguments). The layout is documented in docs/backup.md.
"""

from .against import AgainstReport, compare_with_table
from .jobs import (
    BackupRequest,
    BackupSummary,
    RestoreRequest,
    RestoreSummary,
    VerifyReport,
    job_location,
    new_jobid,
    run_backup,
    run_restore,
    run_verify,
)
from .layout import (
    FORMAT_VERSION,
    STARTED,
    Location,
    Manifest,
    Started,
    check_job,
    data_name,
    manifest_name,
    parse_location,
    validate_jobid,
)
from .reader import (
    BackupSource,
    SegmentSource,
    SegmentVerdict,
    VerifyJob,
    open_source,
    read_items,
    verify_segment,
    verify_segment_task,
)
from .restore import RestoreJob, SegmentRestore, create_table, prepare_target, restore_segment
from .storage import FolderStorage, S3Storage, Storage, StorageSpec, part_size_for
from .tabledef import CreatePlan, create_plan, table_definition
from .writer import BackupJob, GzipLines, SegmentBackup, backup_segment, describe_for_backup

__all__ = [
    "FORMAT_VERSION",
    "STARTED",
    "AgainstReport",
    "BackupJob",
    "BackupRequest",
    "BackupSource",
    "BackupSummary",
    "CreatePlan",
    "FolderStorage",
    "GzipLines",
    "Location",
    "Manifest",
    "RestoreJob",
    "RestoreRequest",
    "RestoreSummary",
    "S3Storage",
    "SegmentBackup",
    "SegmentRestore",
    "SegmentSource",
    "SegmentVerdict",
    "Started",
    "Storage",
    "StorageSpec",
    "VerifyJob",
    "VerifyReport",
    "backup_segment",
    "check_job",
    "compare_with_table",
    "create_plan",
    "create_table",
    "data_name",
    "describe_for_backup",
    "job_location",
    "manifest_name",
    "new_jobid",
    "open_source",
    "parse_location",
    "part_size_for",
    "prepare_target",
    "read_items",
    "restore_segment",
    "run_backup",
    "run_restore",
    "run_verify",
    "table_definition",
    "validate_jobid",
    "verify_segment",
    "verify_segment_task",
]
