"""The log's side of witnessing, in the background: push new checkpoints to the witnesses.

While the node serves, a daemon thread wakes every ``checkpoint_seconds``; when the ledger has
grown since the last checkpoint it issues one, and whenever the newest checkpoint lacks the
cosignatures of configured witnesses it pushes it (C2SP tlog-witness). Failures are logged and
retried at the next wake-up; they never affect appends.
"""

from __future__ import annotations

import logging

from adapters.transparency_config import load_transparency_config
from adapters.witness_client import push_checkpoint
from api.cli_transparency import explain_push
from api.periodic import Periodic
from ledger.notes import parse_checkpoint, verified_cosigners

log = logging.getLogger("tongban.witnessing")


class WitnessPusher(Periodic):
    name = "witness-pusher"
    failure = "pushing checkpoints to witnesses failed"
    log = log

    def tick(self) -> None:
        self.once()

    def once(self) -> int:
        """Issue a checkpoint if the ledger grew, push it where cosignatures are missing;
        return how many witnesses cosigned."""
        settings = self.services.settings
        config = load_transparency_config(settings.data_dir, region=settings.region)
        if not config.witnesses:
            return 0
        ledger = self.services.ledger
        note = ledger.latest_checkpoint()
        # A different size either way: the ledger grew, or it lost rows (then the node refuses
        # to sign, NotAnExtension, logged at each wake-up until an operator recovers:
        # docs/transparency.md, "A database older than the last checkpoint").
        if note is None or parse_checkpoint(note.text).size != ledger.store.max_index():
            note = ledger.issue_checkpoint()
        peers = [peer.witness for peer in config.witnesses]
        if len(verified_cosigners(note, peers)) == len(peers):
            return len(peers)
        results = push_checkpoint(ledger, config.witnesses)
        for result in results:
            if not result.ok:
                # In words, as `tongban witness push` says it (a bare "409 182" told nobody much).
                log.warning("witness %s: %s", result.witness, explain_push(result))
        return sum(result.ok for result in results)
