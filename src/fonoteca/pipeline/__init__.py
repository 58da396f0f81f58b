"""The spine: a show's sources in, transcripts out. Each module is a stage, an object that `fonoteca.app.Fonoteca`
builds once and hands what it needs (the archive, the settings, the transcriber, the event sink):

    catalogue   Catalogue: register a source as a show, re-read it (refresh): feed, platform and folder items
    episodes    EpisodeWork: the work on one episode, claimed (`claimed`: claim → work → release): its transcript or
                captions imported, or its media fetched and transcribed, each segment committed as it comes
    repairs     Repairs: what `retry` works on, failed episodes back to pending, a finished one transcribed again
    after       AfterTranscripts: what follows new transcripts, wherever they came from: keyword index and word
                counts, embeddings, watched words
    runner      InlineRunner (SQLite: the work done here) or QueuedRunner (PostgreSQL: queued for the workers), one
                chosen at construction, for add, sync and retry

Nothing here prints: progress, results and notes are events (fonoteca.events) sent to the caller's sink.
"""

from fonoteca.pipeline.report import PENDING, SyncReport, is_fatal

__all__ = ["PENDING", "SyncReport", "is_fatal"]
