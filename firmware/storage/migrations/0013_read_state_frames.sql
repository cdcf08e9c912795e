-- Where a read's state was read (issue 21, evidence): the state is voted over a vehicle's largest
-- sightings, not read on the frame the serial came from (frame_seq). A JSON list of the frame seqs (the
-- read's camera and run) whose view named the stored state; NULL when the read has no state, and for
-- reads stored before this column.
ALTER TABLE reads ADD COLUMN state_frames TEXT;
