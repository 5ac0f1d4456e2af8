"""A ``JobQueue`` double that records what was queued (the test runs the jobs itself)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecordingQueue:
    process_jobs: list[str] = field(default_factory=list)
    index_jobs: list[str] = field(default_factory=list)

    def enqueue_process(self, document_id: str) -> None:
        if document_id not in self.process_jobs:  # a waiting job is not queued twice
            self.process_jobs.append(document_id)

    def enqueue_index(self, document_id: str) -> None:
        if document_id not in self.index_jobs:
            self.index_jobs.append(document_id)
