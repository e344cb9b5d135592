"""Ratings (好差评, GB/T 39734 / 39735) and the rectification of poor ratings.

- :mod:`~ledger.ratings.code`: the one-time rating code printed on the receipt slip, its proof
  and its commitment (``docs/envelope.md`` §5.5);
- :mod:`~ledger.ratings.rectification`: the rectification's allowed working days (data) and
  its deadlines, counted on the region's published calendar (:mod:`ledger.calendars`);
- :mod:`~ledger.ratings.stats`: ratings and rectifications per body, and the monthly bulletin
  (定期通报), read from the ledger's signed steps.

The rating and rectification steps themselves are workflow steps (``ledger.workflow``).
"""
