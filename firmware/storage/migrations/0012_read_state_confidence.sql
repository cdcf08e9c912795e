-- The plate's state (issue 21): a read that carries a state also carries how sure the reading was
-- (0..1, firmware/recognition/state.py); NULL when the read has no state, and for reads stored before.
ALTER TABLE reads ADD COLUMN state_confidence REAL;
